package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"payorch/contracts"
	"payorch/ledger"
)

// TestCreditExpiryScheduledBySweeper: an expiring free load committed by a process that died
// before it started the credit's expiry workflow (made here with the ledger alone, as the
// API's transaction would) is scheduled by the worker's sweeper, and at expires_at the
// workflow's timer debits the unused rest on its own: type expiry, one
// wallet.credit_expired, the lot closed. A load through the API gets its workflow at once.
func TestCreditExpiryScheduledBySweeper(t *testing.T) {
	s := newStack(t, "1h,1h,1h")
	ctx := context.Background()
	cust := s.newCustomer("Expiring", "pm_card_visa")
	var w map[string]any
	if code := s.call("POST", "/v1/wallets", map[string]any{"customer_id": cust}, &w); code != 201 {
		t.Fatalf("create wallet: %d %v", code, w)
	}
	wallet := w["id"].(string)
	l := ledger.New(s.pool)
	at := time.Now().Add(6 * time.Second)
	orphan, err := l.RequestLoad(ctx, wallet, ledger.LoadInput{Amount: "12.00", Type: ledger.LoadFree, ExpiresAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	// Past the sweeper's grace, as if the process had died a while ago.
	if _, err := s.pool.Exec(ctx, `UPDATE wallet_credit_lots SET created_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Temporal.DescribeWorkflowExecution(ctx, contracts.CreditExpiryWorkflowID(*orphan.WalletTransactionID), ""); err == nil {
		t.Fatal("the orphan already has an expiry workflow")
	}
	var never map[string]any
	if code := s.call("POST", "/v1/wallets/"+wallet+"/load", map[string]any{"amount": "5.00", "type": "free"}, &never); code != 201 {
		t.Fatalf("free load: %d %v", code, never)
	}
	s.startWorker()
	s.until("the sweeper schedules the orphan's expiry", 30*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM wallet_credit_lots WHERE workflow_started_at IS NOT NULL`) == 1
	})
	s.until("the credit expires on time", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM wallet_transactions WHERE type = 'expiry' AND original_transaction_id = $1 AND amount = 12`, *orphan.WalletTransactionID) == 1
	})
	if n := s.scalar(`SELECT count(*) FROM events WHERE type = 'wallet.credit_expired'`); n != 1 {
		t.Fatalf("%d wallet.credit_expired events", n)
	}
	if n := s.scalar(`SELECT count(*) FROM wallet_transactions WHERE type = 'expiry' AND created_at < $1`, at); n != 0 {
		t.Fatal("the credit expired before its expires_at")
	}
	var got map[string]any
	s.call("GET", "/v1/wallets/"+wallet, nil, &got)
	if got["balance"] != "5.00" {
		t.Fatalf("balance %v after the expiry, want the 5.00 that never expires", got["balance"])
	}
	if !strings.Contains(s.logs.String(), "sweeper: scheduled the expiry") {
		t.Fatalf("the sweeper's repair is not in the worker's log")
	}
}
