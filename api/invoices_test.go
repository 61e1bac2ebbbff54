package api

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/contracts"
	"payorch/ids"
	"payorch/internal/testenv/poll"
	"payorch/payments"
	"payorch/workflows"
)

// invoiceHarness is the API with a worker hosting the invoice payment workflow on the real
// simulated provider. Its retry schedule is an hour per step, so nothing retries by itself
// while a test runs: every further attempt is a manual retry or a new payment method.
type invoiceHarness struct {
	*walletHarness
	queue string
}

func newInvoiceHarness(t *testing.T) *invoiceHarness {
	t.Helper()
	h := newInvoiceHarnessWith(t, env.Temporal, 0)
	h.startWorker()
	return h
}

// newInvoiceHarnessWith is the invoice harness whose API reaches Temporal through tc (a
// faulty client in some tests) and waits updateWait for Updates (0: the default). Its
// worker is not started: call startWorker.
func newInvoiceHarnessWith(t *testing.T, tc client.Client, updateWait time.Duration) *invoiceHarness {
	t.Helper()
	h := newHarness(t)
	queue := "test-invoices-" + ids.New("q")
	h.srv = New(Deps{Pool: h.pool, Temporal: tc, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: queue,
		RetrySchedule: []time.Duration{time.Hour, time.Hour, time.Hour}, UpdateWait: updateWait})
	return &invoiceHarness{walletHarness: &walletHarness{harness: h}, queue: queue}
}

// startWorker starts a worker hosting the invoice payment workflow on the harness's queue.
func (h *invoiceHarness) startWorker() {
	h.t.Helper()
	w := worker.New(env.Temporal, h.queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterActivity(&activities.Activities{Pool: h.pool, Provider: payments.NewSimulated(h.pool, payments.SimulatedOptions{})})
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
}

// invoice creates a 30.00 invoice for the customer (extra fields merged in) and returns it.
func (h *invoiceHarness) invoice(customerID string, extra map[string]any) map[string]any {
	h.t.Helper()
	body := map[string]any{"customer_id": customerID, "lines": []map[string]any{{"description": "Pro plan", "amount": "30.00"}}}
	for k, v := range extra {
		body[k] = v
	}
	r := h.do("POST", "/v1/invoices", backendKey, body)
	mustStatus(h.t, r, 201)
	return r.JSON(h.t)
}

// waitInvoice polls GET /v1/invoices/{id} (at most 30 s) until cond holds, and returns it.
func (h *invoiceHarness) waitInvoice(id, what string, cond func(map[string]any) bool) map[string]any {
	h.t.Helper()
	var inv map[string]any
	poll.Until(h.t, 30*time.Second, what, func() (bool, string) {
		r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
		mustStatus(h.t, r, 200)
		inv = r.JSON(h.t)
		return cond(inv), string(r.Body)
	})
	return inv
}

func txns(inv map[string]any) []map[string]any {
	var out []map[string]any
	for _, t := range inv["transactions"].([]any) {
		out = append(out, t.(map[string]any))
	}
	return out
}

// failedAttempts is true once the invoice has n failed transactions and no charge in flight.
func failedAttempts(n int) func(map[string]any) bool {
	return func(inv map[string]any) bool {
		failed := 0
		for _, t := range txns(inv) {
			switch t["status"] {
			case "failed":
				failed++
			case "pending":
				return false
			}
		}
		return failed == n && inv["next_retry_at"] != nil
	}
}

func (h *invoiceHarness) events(types ...string) []string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT type FROM events WHERE type = ANY($1) ORDER BY seq`, types)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (h *invoiceHarness) workflowStatus(invoiceID string) string {
	h.t.Helper()
	d, err := env.Temporal.DescribeWorkflowExecution(context.Background(), contracts.InvoicePaymentWorkflowID(invoiceID), "")
	if err != nil {
		h.t.Fatal(err)
	}
	return d.WorkflowExecutionInfo.Status.String()
}

func TestInvoiceCreatedAndCollected(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	pm := h.method(cust, "pm_card_visa")
	body := map[string]any{"customer_id": cust, "external_id": "bill-1",
		"lines": []map[string]any{{"description": "Pro plan", "amount": "25.00"}, {"description": "Seats", "amount": "5.50"}}}
	r := h.do("POST", "/v1/invoices", backendKey, body, "Idempotency-Key", "inv-create-1")
	mustStatus(t, r, 201)
	inv := r.JSON(t)
	id := inv["id"].(string)
	if !ids.HasPrefix(id, ids.Invoice) || inv["status"] != "to_pay" || inv["total"] != "30.50" || inv["currency"] != "EUR" ||
		inv["payment_method"] != "card" || inv["external_id"] != "bill-1" {
		t.Fatalf("created %s", r.Body)
	}
	// The same request again: the first response, no second invoice or workflow.
	again := h.do("POST", "/v1/invoices", backendKey, body, "Idempotency-Key", "inv-create-1")
	mustStatus(t, again, 201)
	if again.JSON(t)["id"] != id || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %s", again.Body)
	}
	// The same external id under another key is the same invoice: refused, nothing written.
	dup := h.do("POST", "/v1/invoices", backendKey, body, "Idempotency-Key", "inv-create-2")
	mustStatus(t, dup, 409)
	if dup.ErrorCode(t) != "external_id_taken" || h.count("invoices") != 1 {
		t.Fatalf("duplicate external id: %s, %d invoices", dup.Body, h.count("invoices"))
	}

	paid := h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	tx := txns(paid)
	if paid["amount_paid"] != "30.50" || paid["amount_due"] != "0.00" || paid["attempt_count"] != float64(1) ||
		paid["next_retry_at"] != nil || paid["paid_at"] == nil || len(tx) != 1 {
		t.Fatalf("paid invoice %v", paid)
	}
	if !ids.HasPrefix(tx[0]["id"].(string), ids.Transaction) || tx[0]["attempt"] != float64(1) || tx[0]["method"] != "card" ||
		tx[0]["amount"] != "30.50" || tx[0]["status"] != "settled" || tx[0]["error_type"] != nil ||
		tx[0]["payment_method_id"] != pm || tx[0]["created_at"] == nil {
		t.Fatalf("transaction %v", tx[0])
	}
	if got := h.events("invoice.settled"); len(got) != 1 {
		t.Fatalf("events %v", got)
	}
	// Retrying a paid invoice is a state conflict.
	rr := h.do("POST", "/v1/invoices/"+id+"/retry", supportKey, nil)
	mustStatus(t, rr, 409)
	if rr.ErrorCode(t) != contracts.ErrInvoicePaid {
		t.Fatalf("retry of a paid invoice: %s", rr.Body)
	}
	if s := h.workflowStatus(id); s != "Completed" {
		t.Fatalf("workflow %s", s)
	}
	// Starting collection again (a retried request, an operator's "starter collect") finds
	// the completed workflow: no error, no second run.
	inv2, err := h.srv.invoices.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.collect.StartInvoice(context.Background(), inv2); err != nil {
		t.Fatalf("starting a completed invoice's collection again: %v", err)
	}
	if s := h.workflowStatus(id); s != "Completed" {
		t.Fatalf("workflow %s after a second start", s)
	}
	// List: by customer and status.
	l := h.do("GET", "/v1/invoices?customer_id="+cust+"&status=paid", supportKey, nil)
	mustStatus(t, l, 200)
	if d := l.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != id {
		t.Fatalf("list %s", l.Body)
	}
}

// TestInvoiceRefusals: bad input is a typed 4xx and writes nothing; roles are enforced.
func TestInvoiceRefusals(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_visa")
	line := []map[string]any{{"description": "Plan", "amount": "10.00"}}
	cases := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
	}{
		{"no key", "", map[string]any{"customer_id": cust, "lines": line}, 401, ""},
		{"support may not invoice", supportKey, map[string]any{"customer_id": cust, "lines": line}, 403, ""},
		{"no customer", backendKey, map[string]any{"lines": line}, 400, "parameter_missing"},
		{"unknown customer", backendKey, map[string]any{"customer_id": "cus_nope", "lines": line}, 400, "resource_missing"},
		{"no lines", backendKey, map[string]any{"customer_id": cust}, 400, "parameter_missing"},
		{"too many decimals", backendKey, map[string]any{"customer_id": cust, "lines": []map[string]any{{"description": "x", "amount": "1.001"}}}, 400, "amount_invalid"},
		{"float amount", backendKey, map[string]any{"customer_id": cust, "lines": []map[string]any{{"description": "x", "amount": 1.5}}}, 400, "parameter_invalid_type"},
		{"amount too large", backendKey, map[string]any{"customer_id": cust, "lines": []map[string]any{{"description": "x", "amount": "100000000000000.00"}}}, 400, "amount_too_large"},
		{"total too large", backendKey, map[string]any{"customer_id": cust, "total": "1000000000000"}, 400, "amount_too_large"},
		{"zero total", backendKey, map[string]any{"customer_id": cust, "lines": []map[string]any{{"description": "x", "amount": "0.00"}}}, 400, "amount_invalid"},
		{"total mismatch", backendKey, map[string]any{"customer_id": cust, "lines": line, "total": "11.00"}, 400, "total_mismatch"},
		{"other currency", backendKey, map[string]any{"customer_id": cust, "lines": line, "currency": "USD"}, 400, "currency_mismatch"},
		{"bad method", backendKey, map[string]any{"customer_id": cust, "lines": line, "payment_method": "cash"}, 400, "parameter_invalid"},
		{"unknown field", backendKey, map[string]any{"customer_id": cust, "lines": line, "amount": "10.00"}, 400, "parameter_unknown"},
		{"unknown subscription", backendKey, map[string]any{"customer_id": cust, "lines": line, "subscription_id": "sub_nope"}, 400, "resource_missing"},
	}
	for _, c := range cases {
		r := h.do("POST", "/v1/invoices", c.key, c.body)
		if r.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			continue
		}
		if c.code != "" && r.ErrorCode(t) != c.code {
			t.Errorf("%s: code %s, want %s", c.name, r.ErrorCode(t), c.code)
		}
	}
	if n := h.count("invoices"); n != 0 {
		t.Fatalf("%d invoices written by refused requests", n)
	}
	mustStatus(t, h.do("GET", "/v1/invoices/inv_nope", supportKey, nil), 404)
	for p, body := range map[string]any{"retry": nil, "void": nil,
		"reconcile": map[string]any{"amount": "1.00", "reference": "x", "paid_at": "2026-01-01T00:00:00Z"}} {
		mustStatus(t, h.do("POST", "/v1/invoices/inv_nope/"+p, backendKey, body), 404)
	}
}

// TestInvoiceRetryReconcileVoid walks a failing card invoice through a manual retry (the
// outcome comes back in the response), a partial reconciliation and a void.
func TestInvoiceRetryReconcileVoid(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclined")
	id := h.invoice(cust, nil)["id"].(string)
	first := h.waitInvoice(id, "a failed first attempt", failedAttempts(1))
	if first["status"] != "to_pay" || first["attempt_count"] != float64(1) {
		t.Fatalf("after attempt 1: %v", first)
	}
	if tx := txns(first)[0]; tx["error_type"] != "declined" || tx["provider_code"] != "card_declined" || tx["provider_message"] == nil {
		t.Fatalf("failed transaction %v", tx)
	}
	st := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil)
	mustStatus(t, st, 200)
	if s := st.JSON(t); s["payment_status"] != contracts.PaymentRetryScheduled || s["next_retry_at"] == nil || s["failed_attempts"] != float64(1) {
		t.Fatalf("payment state %s", st.Body)
	}

	// Manual retry by support: charged at once, the outcome in the answer.
	r := h.do("POST", "/v1/invoices/"+id+"/retry", supportKey, nil)
	mustStatus(t, r, 200)
	out := r.JSON(t)
	tx, _ := out["transaction"].(map[string]any)
	if tx == nil || tx["status"] != "failed" || tx["attempt"] != float64(2) || tx["error_type"] != "declined" ||
		out["invoice_status"] != "to_pay" || out["payment_status"] != contracts.PaymentRetryScheduled {
		t.Fatalf("retry outcome %s", r.Body)
	}
	if inv := out["invoice"].(map[string]any); inv["attempt_count"] != float64(2) || len(txns(inv)) != 2 {
		t.Fatalf("invoice after retry %v", inv)
	}

	// Reconcile: refused beyond what is due, nothing written; then a partial payment.
	over := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "30.01", "reference": "TRX-0", "paid_at": "2026-01-02T00:00:00Z"})
	mustStatus(t, over, 422)
	if over.ErrorCode(t) != contracts.ErrAmountExceedsDue {
		t.Fatalf("overpayment %s", over.Body)
	}
	bad := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "10", "reference": ""})
	mustStatus(t, bad, 400)
	rec := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "10.00", "reference": "TRX-1", "paid_at": "2026-01-02T00:00:00Z"})
	mustStatus(t, rec, 200)
	ro := rec.JSON(t)
	if ro["invoice_status"] != "to_pay" || ro["amount_due"] != "20.00" || ro["amount_paid"] != "10.00" ||
		ro["transaction"].(map[string]any)["method"] != "bank_transfer" || ro["transaction"].(map[string]any)["status"] != "settled" {
		t.Fatalf("partial reconciliation %s", rec.Body)
	}

	// Void: support may not, backend may; then nothing more is accepted.
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/void", supportKey, nil), 403)
	v := h.do("POST", "/v1/invoices/"+id+"/void", backendKey, map[string]any{"reason": "customer left"})
	mustStatus(t, v, 200)
	if vo := v.JSON(t); vo["invoice_status"] != "voided" || vo["payment_status"] != contracts.PaymentVoided {
		t.Fatalf("void %s", v.Body)
	}
	for _, p := range []string{"retry", "void"} {
		r := h.do("POST", "/v1/invoices/"+id+"/"+p, backendKey, nil)
		mustStatus(t, r, 409)
		if r.ErrorCode(t) != contracts.ErrInvoiceVoided {
			t.Fatalf("%s after void: %s", p, r.Body)
		}
	}
	var sim int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM sim_charges`).Scan(&sim); err != nil {
		t.Fatal(err)
	}
	if sim != 2 {
		t.Fatalf("%d provider charges, want 2 (attempt 1 and the manual retry)", sim)
	}
	if got := h.events("invoice.transaction_failed"); len(got) != 2 {
		t.Fatalf("transaction_failed events %v", got)
	}
}

// TestNewDefaultPaymentMethodChargesAtOnce: a hard decline waits for a new card; saving a
// new default card through the API charges the invoice at once.
func TestNewDefaultPaymentMethodChargesAtOnce(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedExpiredCard")
	id := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(id, "the expired-card decline", func(m map[string]any) bool {
		tx := txns(m)
		return len(tx) == 1 && tx[0]["status"] == "failed"
	})
	poll.Until(t, 30*time.Second, "payment state awaiting_action", func() (bool, string) {
		st := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil).JSON(t)
		return st["payment_status"] == contracts.PaymentAwaitingAction, fmt.Sprint(st)
	})
	h.method(cust, "pm_card_visa")
	paid := h.waitInvoice(id, "paid with the new card", func(m map[string]any) bool { return m["status"] == "paid" })
	tx := txns(paid)
	if len(tx) != 2 || tx[0]["error_type"] != "payment_method_expired" || tx[1]["status"] != "settled" {
		t.Fatalf("transactions %v", tx)
	}
}

// TestErroredSubscriptionReactivateAndCancel: a fraud decline errors the invoice and its
// subscription at once; the subscription then refuses invoices until reactivated, and
// reactivate/cancel follow their state rules and write their events.
func TestErroredSubscriptionReactivateAndCancel(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedFraudulent")
	now := time.Now().UTC()
	sr := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "30.00",
		"current_period_start": now.Add(-time.Hour).Format(time.RFC3339), "current_period_end": now.Add(30 * 24 * time.Hour).Format(time.RFC3339)})
	mustStatus(t, sr, 201)
	sub := sr.JSON(t)["id"].(string)

	// Reactivating an active subscription is a state conflict.
	r := h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil)
	mustStatus(t, r, 409)
	if r.ErrorCode(t) != "subscription_not_errored" {
		t.Fatalf("reactivate active: %s", r.Body)
	}

	id := h.invoice(cust, map[string]any{"subscription_id": sub})["id"].(string)
	errored := h.waitInvoice(id, "error", func(m map[string]any) bool { return m["status"] == "error" })
	if len(txns(errored)) != 1 || errored["next_retry_at"] != nil {
		t.Fatalf("fraud is retried: %v", errored)
	}
	g := h.do("GET", "/v1/subscriptions/"+sub, supportKey, nil).JSON(t)
	if g["status"] != "errored" || g["errored_at"] == nil {
		t.Fatalf("subscription %v", g)
	}
	// An errored subscription takes no new invoice unless the request says so.
	line := []map[string]any{{"description": "Plan", "amount": "30.00"}}
	refused := h.do("POST", "/v1/invoices", backendKey, map[string]any{"customer_id": cust, "subscription_id": sub, "lines": line})
	mustStatus(t, refused, 422)
	if refused.ErrorCode(t) != "subscription_inactive" || h.count("invoices") != 1 {
		t.Fatalf("invoice on errored subscription: %s", refused.Body)
	}

	re := h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil, "Idempotency-Key", "react-1")
	mustStatus(t, re, 200)
	if s := re.JSON(t); s["status"] != "active" || s["errored_at"] != nil || s["id"] != sub {
		t.Fatalf("reactivated %s", re.Body)
	}
	// Reactivation does not pay the invoice.
	if inv := h.do("GET", "/v1/invoices/"+id, supportKey, nil).JSON(t); inv["status"] != "error" || inv["amount_due"] != "30.00" {
		t.Fatalf("invoice after reactivation %v", inv)
	}
	// The same key replays the first answer; a second reactivation without it is a conflict.
	mustStatus(t, h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil, "Idempotency-Key", "react-1"), 200)
	mustStatus(t, h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil), 409)

	c := h.do("POST", "/v1/subscriptions/"+sub+"/cancel", supportKey, "")
	mustStatus(t, c, 200)
	if s := c.JSON(t); s["status"] != "cancelled" || s["cancelled_at"] == nil {
		t.Fatalf("cancelled %s", c.Body)
	}
	for _, p := range []string{"cancel", "reactivate"} {
		r := h.do("POST", "/v1/subscriptions/"+sub+"/"+p, backendKey, nil)
		mustStatus(t, r, 409)
	}
	mustStatus(t, h.do("POST", "/v1/subscriptions/sub_nope/cancel", backendKey, nil), 404)
	mustStatus(t, h.do("POST", "/v1/subscriptions/"+sub+"/cancel", backendKey, map[string]any{"reason": 1}), 400)

	got := h.events("subscription.errored", "subscription.reactivated", "subscription.cancelled", "invoice.errored")
	want := []string{"invoice.errored", "subscription.errored", "subscription.reactivated", "subscription.cancelled"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	var data string
	if err := h.pool.QueryRow(context.Background(), `SELECT data->>'status' FROM events WHERE type = 'subscription.cancelled'`).Scan(&data); err != nil || data != "cancelled" {
		t.Fatalf("cancelled event data status %q %v", data, err)
	}
}
