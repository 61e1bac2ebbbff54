package api

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"payorch/contracts"
	"payorch/internal/testenv/poll"
)

// TestCreatedOnceWhenTheAnswerWasNotRecorded: a customer, a wallet or a webhook endpoint
// was created, then the run ended before its answer was recorded (the API killed, or the
// client hung up while the commit raced the cancelled context: the run answered 5xx). The
// key row is left as such a run leaves it. The retry with the same key and body must get
// the same resource — not a second customer or endpoint, not a 409 for the wallet the
// first run opened. Found by `make chaos` (a customer's retry answered external_id_taken).
func TestCreatedOnceWhenTheAnswerWasNotRecorded(t *testing.T) {
	h := newHarness(t)
	forget := func(key string) {
		t.Helper()
		if _, err := h.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, locked_at = '-infinity' WHERE key = $1`, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, path, key, table string
		body                   func() map[string]any
	}{
		{"customer", "/v1/customers", "cus-once", "customers", func() map[string]any {
			return map[string]any{"name": "Once", "email": "once@example.com", "currency": "EUR"}
		}},
		{"customer with external_id", "/v1/customers", "cus-ext-once", "customers", func() map[string]any {
			return map[string]any{"name": "Ext", "email": "ext@example.com", "currency": "EUR", "external_id": "crm-42"}
		}},
		{"webhook endpoint", "/v1/webhook-endpoints", "ep-once", "webhook_endpoints", func() map[string]any {
			return map[string]any{"url": "https://hooks.example.com/payorch"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.count(tc.table)
			first := h.do("POST", tc.path, backendKey, tc.body(), "Idempotency-Key", tc.key)
			mustStatus(t, first, 201)
			forget(tc.key)
			again := h.do("POST", tc.path, backendKey, tc.body(), "Idempotency-Key", tc.key)
			if again.Status != 201 || again.JSON(t)["id"] != first.JSON(t)["id"] {
				t.Fatalf("the retry of a %s created again: %d %s (first %s)", tc.name, again.Status, again.Body, first.Body)
			}
			if n := h.count(tc.table); n != before+1 {
				t.Fatalf("%d new rows in %s for one request", n-before, tc.table)
			}
			if s, ok := first.JSON(t)["secret"]; ok && again.JSON(t)["secret"] != s {
				t.Fatalf("the retry shows another secret: %v, first %v", again.JSON(t)["secret"], s)
			}
		})
	}
	t.Run("wallet", func(t *testing.T) {
		cr := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "W", "email": "w@example.com", "currency": "EUR"})
		mustStatus(t, cr, 201)
		body := map[string]any{"customer_id": cr.JSON(t)["id"], "settings": map[string]any{"auto_debit": true}}
		first := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-once")
		mustStatus(t, first, 201)
		forget("wal-once")
		again := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-once")
		if again.Status != 201 || again.JSON(t)["id"] != first.JSON(t)["id"] {
			t.Fatalf("the retry of the wallet's creation: %d %s (first %s)", again.Status, again.Body, first.Body)
		}
		// Another key for the same customer is still refused: one wallet per customer.
		other := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-other")
		mustStatus(t, other, 409)
	})
}

// TestReconcileRetriedAfterItPaidTheInvoice: a reconciliation paid the invoice in full
// (its workflow then ends), but its answer was not recorded (the API was killed, as
// `make chaos` does). The retry with the same key and body — the same reference and amount,
// the same reconciliation — gets its outcome (200 with the transaction), not 409
// invoice_paid; the transfer still counts once. Found by `make chaos`.
func TestReconcileRetriedAfterItPaidTheInvoice(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	id := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	h.waitInvoice(id, "awaiting transfer", func(map[string]any) bool { return h.workflowPaymentStatus(id) == contracts.PaymentAwaitingTransfer })
	body := map[string]any{"amount": "30.00", "reference": "TRX-PAID", "paid_at": time.Now().UTC().Format(time.RFC3339)}
	first := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body, "Idempotency-Key", "rec-paid")
	mustStatus(t, first, 200)
	h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	poll.Until(t, 30*time.Second, "the payment workflow ends", func() (bool, string) {
		d, err := env.Temporal.DescribeWorkflowExecution(context.Background(), contracts.InvoicePaymentWorkflowID(id), "")
		if err != nil {
			return false, err.Error()
		}
		return d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus().String()
	})
	if _, err := h.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, locked_at = '-infinity' WHERE key = 'rec-paid'`); err != nil {
		t.Fatal(err)
	}
	again := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body, "Idempotency-Key", "rec-paid")
	mustStatus(t, again, 200)
	want := first.JSON(t)["transaction"].(map[string]any)["id"]
	if tx, _ := again.JSON(t)["transaction"].(map[string]any); tx == nil || tx["id"] != want || again.JSON(t)["invoice_status"] != "paid" {
		t.Fatalf("the retry's outcome %s, want transaction %v and the invoice paid", again.Body, want)
	}
	// Without a key too: the same reference and amount is the same reconciliation.
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body), 200)
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'bank_transfer'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d reconciliation transactions (%v), want 1", n, err)
	}
	// Another amount under that reference is still a mistake, and a new transfer is
	// refused on the paid invoice.
	body["amount"] = "12.00"
	if r := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body); r.Status != 409 || r.ErrorCode(t) != "reference_already_reconciled" {
		t.Fatalf("another amount under the reference: %d %s", r.Status, r.Body)
	}
	other := map[string]any{"amount": "5.00", "reference": "TRX-OTHER", "paid_at": time.Now().UTC().Format(time.RFC3339)}
	if r := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, other); r.Status != 409 || r.ErrorCode(t) != "invoice_paid" {
		t.Fatalf("a new transfer on the paid invoice: %d %s", r.Status, r.Body)
	}
}
