package api

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"payorch/contracts"
	"payorch/documents/pdf"
	"payorch/ledger/ledgertest"
)

// TestLoadExpiresAt: expires_at on a load is only for a free load, in the future, within
// 2000–2100, a date: anything else is a typed 400 and nothing is written. A valid one is
// credited at once, shows expires_at on the load and its credit note, and its CreditExpiry
// workflow (credit-expiry/<transaction id>) is started and recorded as started.
func TestLoadExpiresAt(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMSettle)
	path := "/v1/wallets/" + wallet + "/load"
	future := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Second)
	for _, c := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"paid load", map[string]any{"amount": "5.00", "type": "paid", "expires_at": future.Format(time.RFC3339)}, "parameter_invalid"},
		{"in the past", map[string]any{"amount": "5.00", "type": "free", "expires_at": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)}, "parameter_invalid"},
		{"year 2101", map[string]any{"amount": "5.00", "type": "free", "expires_at": "2101-01-01T00:00:00Z"}, "parameter_invalid"},
		{"year 1999", map[string]any{"amount": "5.00", "type": "free", "expires_at": "1999-12-31T00:00:00Z"}, "parameter_invalid"},
		{"not a date", map[string]any{"amount": "5.00", "type": "free", "expires_at": "next tuesday"}, "body_invalid"},
		{"a number", map[string]any{"amount": "5.00", "type": "free", "expires_at": 1700000000}, "body_invalid"},
	} {
		t.Run(c.name, func(t *testing.T) { h.refused("POST", path, backendKey, c.body, 400, c.code) })
	}
	if h.provider.Charges() != 0 {
		t.Fatal("a refused load reached the provider")
	}

	r := h.load(wallet, map[string]any{"amount": "20.00", "type": "free", "expires_at": future.Format(time.RFC3339)})
	mustStatus(t, r, 201)
	ld := r.JSON(t)
	cn, _ := ld["credit_note"].(map[string]any)
	if ld["expires_at"] != future.Format(time.RFC3339) || cn == nil || cn["expires_at"] != future.Format(time.RFC3339) {
		t.Fatalf("load %v: expires_at not shown on it and its credit note", ld)
	}
	tx := ld["wallet_transaction_id"].(string)
	ctx := context.Background()
	desc, err := env.Temporal.DescribeWorkflowExecution(ctx, contracts.CreditExpiryWorkflowID(tx), "")
	if err != nil {
		t.Fatalf("no expiry workflow for %s: %v", tx, err)
	}
	if st := desc.WorkflowExecutionInfo.Status; st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || desc.WorkflowExecutionInfo.Type.Name != contracts.CreditExpiryWorkflow {
		t.Fatalf("expiry workflow %s: %v", desc.WorkflowExecutionInfo.Type.Name, st)
	}
	if n := ledgertest.Count(t, h.pool, "wallet_credit_lots", "wallet_transaction_id = $1 AND workflow_started_at IS NOT NULL AND expires_at = $2", tx, future); n != 1 {
		t.Fatal("the expiring credit's workflow is not recorded as started")
	}
	_ = env.Temporal.TerminateWorkflow(ctx, contracts.CreditExpiryWorkflowID(tx), "", "test over")

	// The credit note's PDF shows when the credit expires.
	h.srv.docs = pdf.New(h.pool, testMerchant)
	text := pdfText(t, h.do("GET", "/v1/credit-notes/"+cn["id"].(string)+"/pdf", backendKey, nil), cn["number"].(string)+".pdf")
	mustContain(t, "expiring credit note PDF", text, "Expires: "+future.Format("2006-01-02"),
		"This credit expires on "+future.Format("2006-01-02 15:04")+" UTC")
}
