package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"payorch/contracts"
	"payorch/payments"
)

// TestSimulatedBankTransfersReconcileThemselves runs the worker binary with the simulated
// provider taking bank transfers: a bank-transfer invoice gets the customer's virtual
// IBAN (on the invoice and in the email the worker sends), waits in awaiting_transfer,
// and the simulated customer's incoming transfers — one for the whole amount, or two
// partial ones — arrive as provider events after the delay, through the same delivery as
// SEPA outcomes, and reconcile the invoice through its reconcile Update until it is paid:
// one reconciliation per transfer, one invoice.settled.
func TestSimulatedBankTransfersReconcileThemselves(t *testing.T) {
	s := newStack(t, "1h,1h,1h", "PAYORCH_SIM_BANK_TRANSFER_DELAY=3s", "PAYORCH_OUTBOX_POLL_INTERVAL=200ms")
	s.startWorker()

	cases := []struct {
		name, pm string
		refs     []string
	}{
		{"Full", payments.SimBankTransferFull, []string{"30.00"}},
		{"Split", payments.SimBankTransferSplit, []string{"15.00", "30.00"}},
	}
	invoiceOf := map[string]string{}
	customerOf := map[string]string{}
	for _, c := range cases {
		var cust map[string]any
		if code := s.call("POST", "/v1/customers", map[string]any{"name": c.name, "email": strings.ToLower(c.name) + "@example.com", "currency": "EUR"}, &cust); code != 201 {
			t.Fatalf("create customer: %d %v", code, cust)
		}
		cid := cust["id"].(string)
		var pm map[string]any
		if code := s.call("POST", "/v1/customers/"+cid+"/payment-methods", map[string]any{"type": "bank_transfer", "provider_id": c.pm, "default": true}, &pm); code != 201 {
			t.Fatalf("add bank transfer method: %d %v", code, pm)
		}
		var inv map[string]any
		if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cid,
			"lines": []map[string]any{{"description": "Pro plan", "amount": "30.00"}}}, &inv); code != 201 {
			t.Fatalf("create invoice: %d %v", code, inv)
		}
		if inv["payment_method"] != "bank_transfer" {
			t.Fatalf("invoice method %v, want the customer's default bank_transfer", inv["payment_method"])
		}
		invoiceOf[c.name], customerOf[c.name] = inv["id"].(string), cid
	}

	for _, c := range cases {
		id, cid := invoiceOf[c.name], customerOf[c.name]
		var bt map[string]any
		s.until(c.name+": the invoice's virtual IBAN", 30*time.Second, func() bool {
			var inv map[string]any
			s.call("GET", "/v1/invoices/"+id, nil, &inv)
			bt, _ = inv["bank_transfer"].(map[string]any)
			return bt != nil
		})
		if bt["provider"] != "simulated" || bt["iban"] != payments.SimVirtualIBAN(cid) || bt["account_holder"] != payments.SimAccountHolder ||
			!strings.HasPrefix(bt["reference"].(string), "SIM-") {
			t.Fatalf("%s: bank_transfer = %v", c.name, bt)
		}
		// Waiting for the transfer before it arrives (the delay is 3 s).
		v, err := env.Temporal.QueryWorkflow(context.Background(), contracts.InvoicePaymentWorkflowID(id), "", contracts.QueryState)
		var st contracts.PaymentState
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil || (st.PaymentStatus != contracts.PaymentAwaitingTransfer && st.PaymentStatus != contracts.PaymentPaid) {
			t.Fatalf("%s: workflow state %q (%v), want awaiting_transfer", c.name, st.PaymentStatus, err)
		}
		if st.PaymentStatus == contracts.PaymentPaid {
			t.Logf("%s: already paid when first looked at", c.name)
		}
	}

	for _, c := range cases {
		id := invoiceOf[c.name]
		s.until(c.name+": paid by the simulated transfers", 60*time.Second, func() bool {
			var inv map[string]any
			s.call("GET", "/v1/invoices/"+id, nil, &inv)
			return inv["status"] == "paid"
		})
		var inv map[string]any
		s.call("GET", "/v1/invoices/"+id, nil, &inv)
		sbt := inv["bank_transfer"].(map[string]any)["provider_reference"].(string)
		var refs []string
		for _, tx := range inv["transactions"].([]any) {
			m := tx.(map[string]any)
			if m["method"] == "bank_transfer" {
				if m["status"] != "settled" {
					t.Errorf("%s: reconciliation %v not settled", c.name, m)
				}
				refs = append(refs, strings.TrimPrefix(m["reference"].(string), sbt+":received:"))
			}
		}
		if strings.Join(refs, ",") != strings.Join(c.refs, ",") || inv["amount_paid"] != "30.00" {
			t.Fatalf("%s: reconciliations %v (amount paid %v), want %v", c.name, refs, inv["amount_paid"], c.refs)
		}
		if n := s.scalar(`SELECT count(*) FROM events WHERE resource_id = $1 AND type = 'invoice.settled'`, id); n != 1 {
			t.Fatalf("%s: invoice.settled written %d times, want once", c.name, n)
		}
		// The delivery is marked once its handler returned, just after the invoice is paid.
		s.until(c.name+": each transfer delivered", 30*time.Second, func() bool {
			return s.scalar(`SELECT count(*) FROM sim_bank_transfer_events WHERE transfer_id = $1 AND delivered_at IS NOT NULL`, sbt) == len(c.refs)
		})
		if n := s.scalar(`SELECT count(*) FROM sim_bank_transfer_events WHERE transfer_id = $1`, sbt); n != len(c.refs) {
			t.Fatalf("%s: %d transfers, want %d", c.name, n, len(c.refs))
		}
	}

	// The emails the worker sent carry each customer's virtual IBAN and reference.
	s.until("the bank transfer emails", 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(s.dataDir, "mail", "*.eml"))
		found := 0
		for _, c := range cases {
			for _, f := range files {
				raw, _ := os.ReadFile(f)
				if strings.Contains(string(raw), payments.SimVirtualIBAN(customerOf[c.name])) {
					found++
					break
				}
			}
		}
		return found == len(cases)
	})
}
