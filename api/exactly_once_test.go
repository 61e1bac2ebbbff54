package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"payorch/apperr"
	"payorch/collection"
	"payorch/contracts"
	"payorch/customers"
	"payorch/internal/testenv/poll"
	"payorch/invoices"
	"payorch/payments"
)

// faultyTemporal is the real Temporal client with faults at its boundary: the next
// failStarts workflow starts and failSignals signals fail. With startThenFail, a failing
// start is sent first (the workflow starts) and then reported failed, as when the answer
// is lost on the network.
type faultyTemporal struct {
	client.Client
	failStarts    atomic.Int32
	startThenFail atomic.Bool
	failSignals   atomic.Int32
}

var errInjected = errors.New("injected fault: connection reset")

func (f *faultyTemporal) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if f.failStarts.Add(-1) >= 0 {
		if f.startThenFail.Load() {
			if _, err := f.Client.ExecuteWorkflow(ctx, o, wf, args...); err != nil {
				return nil, err
			}
		}
		return nil, errInjected
	}
	return f.Client.ExecuteWorkflow(ctx, o, wf, args...)
}

func (f *faultyTemporal) SignalWorkflow(ctx context.Context, id, run, name string, arg any) error {
	if f.failSignals.Add(-1) >= 0 {
		return errInjected
	}
	return f.Client.SignalWorkflow(ctx, id, run, name, arg)
}

func invoiceBody(customerID string, extra map[string]any) map[string]any {
	body := map[string]any{"customer_id": customerID, "lines": []map[string]any{{"description": "Pro plan", "amount": "30.00"}}}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// sweeper is the worker's collection sweeper over the harness's database and queue, with
// no grace period.
func (h *invoiceHarness) sweeper() *collection.Sweeper {
	return &collection.Sweeper{Log: h.srv.log, Collection: &collection.Client{Temporal: env.Temporal, TaskQueue: h.queue,
		RetrySchedule: []time.Duration{time.Hour, time.Hour, time.Hour}, Invoices: invoices.NewService(h.pool)}}
}

// doCtx is do with a request context (a client that hangs up cancels it).
func (h *harness) doCtx(ctx context.Context, method, path, key string, body any, headers ...string) response {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// TestIdempotencyComparesJSONValues: the same request with its keys in another order and
// other white space is the same request (replayed), not a reuse of the key (409).
func TestIdempotencyComparesJSONValues(t *testing.T) {
	h := newHarness(t)
	first := h.do("POST", "/v1/customers", backendKey, `{"name":"A","email":"a@example.com","currency":"EUR"}`, "Idempotency-Key", "json-1")
	mustStatus(t, first, 201)
	again := h.do("POST", "/v1/customers", backendKey, "{\n  \"currency\": \"EUR\",\n  \"email\": \"a@example.com\", \"name\": \"A\"\n}", "Idempotency-Key", "json-1")
	mustStatus(t, again, 201)
	if !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("not replayed:\n%s\n%s", first.Body, again.Body)
	}
	other := h.do("POST", "/v1/customers", backendKey, `{"name":"A","email":"a@example.com","currency":"USD"}`, "Idempotency-Key", "json-1")
	mustStatus(t, other, 409)
	if n := h.count("customers"); n != 1 {
		t.Fatalf("%d customers, want 1", n)
	}
}

// TestCreateInvoiceWhenTheStartFails: the invoice row is committed but its workflow cannot
// be started (Temporal unreachable, or the start's answer lost). The answer is 202 with
// the invoice, the key stays bound to it, and the retry gets the same invoice, started:
// one invoice, one charge, paid.
func TestCreateInvoiceWhenTheStartFails(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("start_sent=%v", lost), func(t *testing.T) {
			ft := &faultyTemporal{Client: env.Temporal}
			h := newInvoiceHarnessWith(t, ft, 0)
			h.startWorker()
			cust := h.customer("EUR")
			h.method(cust, "pm_card_visa")
			ft.startThenFail.Store(lost)
			ft.failStarts.Store(1)
			first := h.do("POST", "/v1/invoices", backendKey, invoiceBody(cust, nil), "Idempotency-Key", "inv-1")
			mustStatus(t, first, 202)
			id := first.JSON(t)["id"].(string)
			again := h.do("POST", "/v1/invoices", backendKey, invoiceBody(cust, nil), "Idempotency-Key", "inv-1")
			mustStatus(t, again, 201)
			if got := again.JSON(t)["id"]; got != id {
				t.Fatalf("the retry made invoice %v, want the first one %s", got, id)
			}
			third := h.do("POST", "/v1/invoices", backendKey, invoiceBody(cust, nil), "Idempotency-Key", "inv-1")
			mustStatus(t, third, 201)
			if third.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatal("the final answer was not replayed")
			}
			h.waitInvoice(id, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })
			if n := h.count("invoices"); n != 1 {
				t.Fatalf("%d invoices, want 1", n)
			}
			if n := h.count("sim_charges"); n != 1 {
				t.Fatalf("%d charges, want 1", n)
			}
		})
	}
}

// TestSweeperStartsAnInvoiceWithoutWorkflow: a client that gives up after the 202 still
// gets its invoice collected: the sweeper starts it, and a second sweep does nothing.
func TestSweeperStartsAnInvoiceWithoutWorkflow(t *testing.T) {
	ft := &faultyTemporal{Client: env.Temporal}
	h := newInvoiceHarnessWith(t, ft, 0)
	h.startWorker()
	cust := h.customer("EUR")
	h.method(cust, "pm_card_visa")
	ft.failStarts.Store(1)
	r := h.do("POST", "/v1/invoices", backendKey, invoiceBody(cust, nil))
	mustStatus(t, r, 202)
	id := r.JSON(t)["id"].(string)
	// The payment state answers from the database while no workflow exists.
	st := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil)
	mustStatus(t, st, 200)
	if src := st.JSON(t)["source"]; src != "database" {
		t.Fatalf("source %v, want database: %s", src, st.Body)
	}
	sw := h.sweeper()
	res, err := sw.Sweep(context.Background())
	if err != nil || res.Started != 1 {
		t.Fatalf("sweep: %+v, %v; want 1 started", res, err)
	}
	h.waitInvoice(id, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })
	if res, err := sw.Sweep(context.Background()); err != nil || res.Started != 0 {
		t.Fatalf("second sweep: %+v, %v; want nothing to do", res, err)
	}
	st = h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil)
	mustStatus(t, st, 200)
	if got := st.JSON(t)["payment_status"]; got != contracts.PaymentPaid {
		t.Fatalf("payment status %v, want paid: %s", got, st.Body)
	}
}

// TestCreateInvoiceClientHangsUp: a client that hangs up at any point of POST
// /v1/invoices and retries with the same key gets one invoice, collected once.
func TestCreateInvoiceClientHangsUp(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_visa")
	const n = 12
	var made []string
	for i := range n {
		key := fmt.Sprintf("hangup-%d", i)
		body := invoiceBody(cust, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(20_000))*time.Microsecond)
		h.doCtx(ctx, "POST", "/v1/invoices", backendKey, body, "Idempotency-Key", key)
		cancel()
		var r response // the first run may still be finishing: 409 in use, or 202
		poll.Until(t, 30*time.Second, "a 201 for key "+key, func() (bool, string) {
			r = h.do("POST", "/v1/invoices", backendKey, body, "Idempotency-Key", key)
			return r.Status == 201, fmt.Sprintf("%d %s", r.Status, r.Body)
		})
		made = append(made, r.JSON(t)["id"].(string))
	}
	for _, id := range made {
		h.waitInvoice(id, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })
	}
	if got := h.count("invoices"); got != n {
		t.Fatalf("%d invoices for %d requests", got, n)
	}
	if got := h.count("sim_charges"); got != n {
		t.Fatalf("%d charges for %d invoices", got, n)
	}
}

// TestReconcileCountsAReferenceOnce: the same bank reference sent twice, without a key,
// counts once; with another amount it is refused.
func TestReconcileCountsAReferenceOnce(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	inv := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})
	id := inv["id"].(string)
	h.waitInvoice(id, "awaiting transfer", func(map[string]any) bool { return h.workflowPaymentStatus(id) == contracts.PaymentAwaitingTransfer })
	// The transfer instructions ask for the invoice's number as the reference, not its id.
	var ref string
	if err := h.pool.QueryRow(context.Background(), `SELECT data->>'reference' FROM events WHERE type = 'email.bank_transfer_instructions' AND resource_id = $1`, id).Scan(&ref); err != nil || ref != inv["number"] {
		t.Fatalf("transfer reference %q (%v), want the invoice number %v", ref, err, inv["number"])
	}
	body := map[string]any{"amount": "10.00", "reference": "TRX-1", "paid_at": time.Now().UTC().Format(time.RFC3339)}
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body), 200)
	r := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body)
	mustStatus(t, r, 200)
	if got := r.JSON(t)["invoice"].(map[string]any)["amount_paid"]; got != "10.00" {
		t.Fatalf("amount paid %v after one transfer sent twice, want 10.00", got)
	}
	body["amount"] = "12.00"
	r = h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body)
	mustStatus(t, r, 409)
	if c := r.ErrorCode(t); c != "reference_already_reconciled" {
		t.Fatalf("code %s", c)
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'bank_transfer'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d reconciliation transactions (%v), want 1", n, err)
	}
}

// TestUpdateThatOutlivesItsWaitIs202: a reconcile whose outcome is not known within the
// API's wait (no worker is running) answers 202, not 5xx; once the worker runs, the same
// request again (same key) gets the outcome of that one Update: the transfer counts once.
func TestUpdateThatOutlivesItsWaitIs202(t *testing.T) {
	h := newInvoiceHarnessWith(t, env.Temporal, 500*time.Millisecond)
	cust := h.customer("EUR")
	r := h.do("POST", "/v1/invoices", backendKey, invoiceBody(cust, map[string]any{"payment_method": "bank_transfer"}))
	mustStatus(t, r, 201)
	id := r.JSON(t)["id"].(string)
	body := map[string]any{"amount": "30.00", "reference": "TRX-9", "paid_at": time.Now().UTC().Format(time.RFC3339)}
	first := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body, "Idempotency-Key", "rec-1")
	mustStatus(t, first, 202)
	if first.Header.Get("Location") != "/v1/invoices/"+id {
		t.Fatalf("Location %q", first.Header.Get("Location"))
	}
	// Still no outcome: the duplicate is told again that it is in progress.
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body, "Idempotency-Key", "rec-1"), 202)
	h.startWorker()
	var out response
	poll.Until(t, 30*time.Second, "the reconcile's outcome", func() (bool, string) {
		out = h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body, "Idempotency-Key", "rec-1")
		return out.Status != 202, fmt.Sprintf("%d %s", out.Status, out.Body)
	})
	mustStatus(t, out, 200)
	inv := h.waitInvoice(id, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })
	if inv["amount_paid"] != "30.00" {
		t.Fatalf("amount paid %v, want 30.00", inv["amount_paid"])
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'bank_transfer'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d reconciliation transactions (%v), want 1", n, err)
	}
}

// TestPaymentStateOfAWalletLoadInvoice: a wallet load's one-off invoice has no payment
// workflow; its payment state comes from the database instead of a 500.
func TestPaymentStateOfAWalletLoadInvoice(t *testing.T) {
	h := newInvoiceHarness(t)
	var id string
	if _, err := h.pool.Exec(context.Background(), `INSERT INTO customers (id, name, email, currency) VALUES ('cus_wl', 'W', 'w@example.com', 'EUR')`); err != nil {
		t.Fatal(err)
	}
	if err := h.pool.QueryRow(context.Background(), `INSERT INTO invoices (id, customer_id, kind, currency, payment_method, total, status)
		VALUES ('inv_wl', 'cus_wl', 'wallet_load', 'EUR', 'card', 20, 'to_pay') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil)
	mustStatus(t, r, 200)
	if st := r.JSON(t); st["source"] != "database" || st["payment_status"] != contracts.PaymentCollecting {
		t.Fatalf("state %s", r.Body)
	}
}

// TestNewPaymentMethodWhenTheSignalFails: a new card saved while its waiting invoices
// cannot be told answers 202 (not 201 with the invoices left asleep); the sweeper tells
// them, and the invoice is charged with the new card.
func TestNewPaymentMethodWhenTheSignalFails(t *testing.T) {
	ft := &faultyTemporal{Client: env.Temporal}
	h := newInvoiceHarnessWith(t, ft, 0)
	h.startWorker()
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedExpiredCard")
	id := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(id, "hard decline", func(map[string]any) bool { return h.workflowPaymentStatus(id) == contracts.PaymentAwaitingAction })
	ft.failSignals.Store(1)
	body := map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 12, "exp_year": time.Now().Year() + 1, "default": true}
	r := h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, body, "Idempotency-Key", "pm-1")
	mustStatus(t, r, 202)
	pm := r.JSON(t)["id"]
	// The retry with the same key is the same payment method, and this time tells them.
	r = h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, body, "Idempotency-Key", "pm-1")
	mustStatus(t, r, 201)
	if r.JSON(t)["id"] != pm {
		t.Fatalf("a second payment method was saved: %s", r.Body)
	}
	h.waitInvoice(id, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })

	// Without the retry, the sweeper tells them.
	cust2 := h.customer("EUR")
	h.method(cust2, "pm_card_chargeDeclinedExpiredCard")
	id2 := h.invoice(cust2, nil)["id"].(string)
	h.waitInvoice(id2, "hard decline", func(map[string]any) bool { return h.workflowPaymentStatus(id2) == contracts.PaymentAwaitingAction })
	ft.failSignals.Store(1)
	mustStatus(t, h.do("POST", "/v1/customers/"+cust2+"/payment-methods", backendKey, body), 202)
	res, err := h.sweeper().Sweep(context.Background())
	if err != nil || res.Resent != 1 {
		t.Fatalf("sweep: %+v, %v; want 1 signal sent again", res, err)
	}
	h.waitInvoice(id2, "paid", func(inv map[string]any) bool { return inv["status"] == "paid" })
	if res, err := h.sweeper().Sweep(context.Background()); err != nil || res.Resent != 0 {
		t.Fatalf("second sweep: %+v, %v; want nothing to do", res, err)
	}
	if got := h.count("payment_methods"); got != 4 {
		t.Fatalf("%d payment methods, want 4", got)
	}
}

// workflowState queries the invoice's workflow (the zero state when it does not answer).
func (h *invoiceHarness) workflowState(invoiceID string) contracts.PaymentState {
	var st contracts.PaymentState
	v, err := env.Temporal.QueryWorkflow(context.Background(), contracts.InvoicePaymentWorkflowID(invoiceID), "", contracts.QueryState)
	if err == nil {
		_ = v.Get(&st)
	}
	return st
}

// workflowPaymentStatus is the workflow's payment status ("" when it does not answer).
func (h *invoiceHarness) workflowPaymentStatus(invoiceID string) string {
	return h.workflowState(invoiceID).PaymentStatus
}

// TestReactivationResumesHeldInvoices: an invoice held because its subscription errored is
// collected again as soon as the subscription is reactivated through the API; if its
// workflow cannot be told then, the answer is 202 and the worker's sweeper tells it.
func TestReactivationResumesHeldInvoices(t *testing.T) {
	for _, signalFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("signal_fails=%v", signalFails), func(t *testing.T) {
			ft := &faultyTemporal{Client: env.Temporal}
			h := newInvoiceHarnessWith(t, ft, 0)
			h.startWorker()
			cust := h.customer("EUR")
			h.method(cust, "pm_card_chargeDeclinedFraudulent")
			now := time.Now().UTC()
			sr := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "30.00",
				"current_period_start": now.Add(-time.Hour).Format(time.RFC3339), "current_period_end": now.Add(30 * 24 * time.Hour).Format(time.RFC3339)})
			mustStatus(t, sr, 201)
			sub := sr.JSON(t)["id"].(string)
			first := h.invoice(cust, map[string]any{"subscription_id": sub})["id"].(string)
			h.waitInvoice(first, "error", func(m map[string]any) bool { return m["status"] == "error" })
			held := h.invoice(cust, map[string]any{"subscription_id": sub, "allow_inactive_subscription": true})["id"].(string)
			h.waitInvoice(held, "held", func(map[string]any) bool { return h.workflowHold(held) == contracts.HoldSubscriptionErrored })
			if n := len(txns(h.do("GET", "/v1/invoices/"+held, supportKey, nil).JSON(t))); n != 0 {
				t.Fatalf("a held invoice was charged: %d transactions", n)
			}
			if signalFails {
				ft.failSignals.Store(100) // every signal of the request fails
			}
			r := h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil, "Idempotency-Key", "react-1")
			if signalFails {
				mustStatus(t, r, 202)
				ft.failSignals.Store(0)
				// The same request again finds the subscription reactivated (not a 409)
				// and tells the invoices this time.
				again := h.do("POST", "/v1/subscriptions/"+sub+"/reactivate", supportKey, nil, "Idempotency-Key", "react-1")
				mustStatus(t, again, 200)
				if again.JSON(t)["status"] != "active" {
					t.Fatalf("rerun: %s", again.Body)
				}
				res, err := h.sweeper().Sweep(context.Background())
				if err != nil || res.Resumed == 0 {
					t.Fatalf("sweep: %+v, %v; want the held invoice told", res, err)
				}
			} else {
				mustStatus(t, r, 200)
			}
			// Collected again: no longer held for the subscription (it now waits for a new
			// card, the fraud decline having marked the old one errored).
			h.waitInvoice(held, "the hold lifted", func(map[string]any) bool {
				hold := h.workflowHold(held)
				return hold != "" && hold != contracts.HoldSubscriptionErrored
			})
		})
	}
}

// TestUpdateDataErrorIsTyped: a reconcile whose data the database refuses (a NUL byte
// that got past the API, sent here straight through the collection client) is a typed
// 400 invalid_data, and the invoice's workflow stays healthy: the next reconcile works.
func TestUpdateDataErrorIsTyped(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	id := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	_, err := h.srv.collect.Reconcile(context.Background(), id, contracts.ReconcileRequest{
		Amount: "10.00", Reference: "TRX\x00NUL", PaidAt: time.Now().UTC(), Method: "bank_transfer"})
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid || e.Code != contracts.ErrInvalidData {
		t.Fatalf("error %v, want a typed invalid_data", err)
	}
	body := map[string]any{"amount": "30.00", "reference": "TRX-OK", "paid_at": time.Now().UTC().Format(time.RFC3339)}
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, body), 200)
	h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
}

// workflowHold is the workflow's hold ("" when none or no answer).
func (h *invoiceHarness) workflowHold(invoiceID string) string {
	return h.workflowState(invoiceID).Hold
}

// TestReconcileAfterARefusalWithTheSameReference: a reference refused once (an amount
// typed wrong) can be reconciled with the right amount, with or without a key; the
// refusal is not the reference's outcome for good.
func TestReconcileAfterARefusalWithTheSameReference(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	id := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	h.waitInvoice(id, "awaiting transfer", func(map[string]any) bool { return h.workflowPaymentStatus(id) == contracts.PaymentAwaitingTransfer })
	paidAt := time.Now().UTC().Format(time.RFC3339)
	wrong := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "300.00", "reference": "TRX-7", "paid_at": paidAt})
	mustStatus(t, wrong, 422)
	right := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "30.00", "reference": "TRX-7", "paid_at": paidAt})
	mustStatus(t, right, 200)
	h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
}

// TestNewPaymentMethodToldOnlyToInvoicesItWouldPay: a direct debit saved as the default
// does not wake a card invoice (it would not be charged with it, and waking it would
// charge the failed card again); a new card does.
func TestNewPaymentMethodToldOnlyToInvoicesItWouldPay(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedInsufficientFunds")
	id := h.invoice(cust, map[string]any{"payment_method": "card"})["id"].(string)
	h.waitInvoice(id, "a failed attempt", failedAttempts(1))
	dd := customers.PaymentMethod{ID: "", CustomerID: cust}
	r := h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, map[string]any{"type": "direct_debit", "provider_id": "pm_sim_sepa_settle", "default": true})
	mustStatus(t, r, 201)
	dd.ID, dd.Type, dd.Default = r.JSON(t)["id"].(string), customers.TypeDirectDebit, true
	if n, err := h.srv.collect.PaymentMethodSaved(context.Background(), dd); err != nil || n != 0 {
		t.Fatalf("a direct debit woke %d card invoices (%v)", n, err)
	}
	if res, err := h.sweeper().Sweep(context.Background()); err != nil || res.Resent != 0 {
		t.Fatalf("sweep: %+v, %v; want nothing to tell", res, err)
	}
	if n := len(txns(h.do("GET", "/v1/invoices/"+id, supportKey, nil).JSON(t))); n != 1 {
		t.Fatalf("%d transactions after a direct debit was saved, want the 1 failed card charge", n)
	}
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, map[string]any{"type": "card", "provider_id": "pm_card_visa",
		"exp_month": 12, "exp_year": time.Now().Year() + 1, "default": true}), 201)
	h.waitInvoice(id, "paid with the new card", func(m map[string]any) bool { return m["status"] == "paid" })
}

// TestPortalPaymentAppliedFromTheProviderEvent: a payment the customer authenticated in
// the portal pays the invoice even when the page was closed before payorch heard back:
// the provider's event (a Stripe webhook) applies it, once however often it comes.
func TestPortalPaymentAppliedFromTheProviderEvent(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_authenticationRequired")
	id := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(id, "authentication required", func(m map[string]any) bool {
		ts := txns(m)
		return len(ts) == 1 && ts[0]["error_type"] == "authentication_required"
	})
	router := &collection.EventRouter{Collection: h.srv.collect}
	ev := payments.Event{ID: "evt_auth_1", Provider: "stripe", Reference: "pi_auth_1", Status: payments.StatusSettled,
		Metadata: map[string]string{"invoice_id": id, "customer_id": cust, "purpose": payments.PurposePortalAuthentication, "amount": "30.00"}}
	for range 2 {
		if err := router.HandleProviderEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	inv := h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	on := 0
	for _, tx := range txns(inv) {
		if tx["method"] == invoices.MethodCardOnSession {
			on++
		}
	}
	if on != 1 {
		t.Fatalf("%d on-session payments applied, want 1: %v", on, inv["transactions"])
	}
}

// TestUsageRecordedOnceWhenItsAnswerWasNotRecorded: the process died between recording
// usage (or creating a subscription) and recording the request's answer (the key row is left open, as a crash leaves
// it); the retry with the same key gets the same usage record, not a second one billed.
func TestUsageRecordedOnceWhenItsAnswerWasNotRecorded(t *testing.T) {
	h := newHarness(t)
	cr := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "U", "email": "u@example.com", "currency": "EUR"})
	mustStatus(t, cr, 201)
	now := time.Now().UTC()
	subBody := map[string]any{"customer_id": cr.JSON(t)["id"], "amount": "30.00",
		"current_period_start": now.Add(-time.Hour).Format(time.RFC3339), "current_period_end": now.Add(24 * time.Hour).Format(time.RFC3339)}
	sr := h.do("POST", "/v1/subscriptions", backendKey, subBody, "Idempotency-Key", "sub-1")
	mustStatus(t, sr, 201)
	// The subscription too (it is invoiced).
	if _, err := h.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, locked_at = '-infinity' WHERE key = 'sub-1'`); err != nil {
		t.Fatal(err)
	}
	if again := h.do("POST", "/v1/subscriptions", backendKey, subBody, "Idempotency-Key", "sub-1"); again.Status != 201 || again.JSON(t)["id"] != sr.JSON(t)["id"] || h.count("subscriptions") != 1 {
		t.Fatalf("a second subscription: %s (%d subscriptions)", again.Body, h.count("subscriptions"))
	}
	path := "/v1/subscriptions/" + sr.JSON(t)["id"].(string) + "/usage"
	body := map[string]any{"amount": "2.50", "description": "API calls", "occurred_at": now.Format(time.RFC3339)}
	first := h.do("POST", path, backendKey, body, "Idempotency-Key", "usage-1")
	mustStatus(t, first, 201)
	if _, err := h.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, locked_at = '-infinity' WHERE key = 'usage-1'`); err != nil {
		t.Fatal(err)
	}
	again := h.do("POST", path, backendKey, body, "Idempotency-Key", "usage-1")
	mustStatus(t, again, 201)
	if again.JSON(t)["id"] != first.JSON(t)["id"] || h.count("usage_records") != 1 {
		t.Fatalf("a second usage record: %s then %s (%d records)", first.Body, again.Body, h.count("usage_records"))
	}
}
