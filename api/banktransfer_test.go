package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/collection"
	"payorch/contracts"
	"payorch/internal/testenv/poll"
	"payorch/invoices"
	"payorch/metrics"
	"payorch/metrics/metricstest"
	"payorch/payments"
	"payorch/workflows"
)

// stripeBankTransferFixture is stripe-mock's PaymentIntent: a confirmed customer-balance
// intent of 30.00 EUR waiting for a transfer, of which 20.00 has arrived when it is read
// back (GET), with its bank transfer instructions.
const stripeBankTransferFixture = `{"resources":{"payment_intent":{"id":"pi_bt_fixture","object":"payment_intent","amount":3000,
"amount_received":0,"currency":"eur","status":"requires_action","capture_method":"automatic","confirmation_method":"automatic",
"created":1234567890,"livemode":false,"metadata":{},"payment_method_types":["customer_balance"],
"next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{
  "amount_remaining":1000,"currency":"eur","reference":"STRIPEREF42","type":"eu_bank_transfer",
  "financial_addresses":[{"type":"iban","supported_networks":["sepa"],
    "iban":{"account_holder_name":"Stripe Technology Europe Limited","bic":"SXPYDEHH","country":"DE","iban":"DE89370400440532013000"}}]}}}}}`

// bankTransferWebhookHarness is the invoice harness with Stripe (stripe-mock) taking bank
// transfers: the worker's activities ask it for the funding, and the API's Stripe webhook
// hands funding events to the collection's EventRouter, as the app wires them.
func bankTransferWebhookHarness(t *testing.T) *invoiceHarness {
	t.Helper()
	return bankTransferWebhookHarnessWith(t, stripeBankTransferFixture)
}

// bankTransferWebhookHarnessWith is bankTransferWebhookHarness with stripe-mock answering
// the PaymentIntent of fixture.
func bankTransferWebhookHarnessWith(t *testing.T, fixture string) *invoiceHarness {
	t.Helper()
	fixtures := filepath.Join(t.TempDir(), "fixtures.json")
	if err := os.WriteFile(fixtures, []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_123", BaseURL: startStripeMock(t, fixtures)})
	if err != nil {
		t.Fatal(err)
	}
	h := newInvoiceHarnessWith(t, env.Temporal, 0)
	sched := []time.Duration{time.Hour, time.Hour, time.Hour}
	router := &collection.EventRouter{BankTransfers: sp, Collection: &collection.Client{Temporal: env.Temporal, TaskQueue: h.queue,
		RetrySchedule: sched, Invoices: invoices.NewService(h.pool)}}
	h.srv = New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: h.queue,
		RetrySchedule: sched, StripeWebhookSecret: testStripeSecret, ProviderEvents: router})
	w := worker.New(env.Temporal, h.queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterActivity(&activities.Activities{Pool: h.pool, Provider: sp, BankTransfers: sp})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return h
}

// TestStripeBankTransferWebhooksReconcile: with Stripe taking bank transfers, a
// bank-transfer invoice gets a customer-balance PaymentIntent whose instructions are on
// the invoice and in its email; the signed funding webhooks then reconcile it through the
// reconcile Update — a partial funding once (a duplicate delivery, or another event
// reporting the same total, adds nothing), a cash-balance transaction by what the intent
// has received since, the intent's success the rest — and the invoice is paid, with one
// invoice.settled.
func TestStripeBankTransferWebhooksReconcile(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR",
		"provider_customer_id": "cus_123"})
	mustStatus(t, r, 201)
	inv := h.invoice(r.JSON(t)["id"].(string), map[string]any{"payment_method": "bank_transfer"})
	id := inv["id"].(string)

	inv = h.waitInvoice(id, "the invoice's Stripe bank transfer", func(m map[string]any) bool { return m["bank_transfer"] != nil })
	bt := inv["bank_transfer"].(map[string]any)
	pi, _ := bt["provider_reference"].(string)
	if bt["provider"] != "stripe" || len(pi) < 4 || pi[:3] != "pi_" || bt["iban"] != "DE89370400440532013000" ||
		bt["reference"] != "STRIPEREF42" || bt["type"] != "eu_bank_transfer" || bt["amount"] != "30.00" {
		t.Fatalf("bank_transfer = %v", bt)
	}
	var iban, ref string
	if err := h.pool.QueryRow(context.Background(), `SELECT data->'instructions'->>'iban', data->>'reference' FROM events WHERE type = $1 AND resource_id = $2`,
		"email.bank_transfer_instructions", id).Scan(&iban, &ref); err != nil {
		t.Fatalf("the instructions email: %v", err)
	}
	if iban != "DE89370400440532013000" || ref != "STRIPEREF42" {
		t.Fatalf("email instructions: iban %q reference %q, want Stripe's", iban, ref)
	}
	waitPaymentStatus(t, h, id, contracts.PaymentAwaitingTransfer)

	intent := func(status string, received, remaining int) string {
		return fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":3000,"amount_received":%d,"currency":"eur","status":%q,
		  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":%q},
		  "next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{"amount_remaining":%d,"currency":"eur","reference":"STRIPEREF42","type":"eu_bank_transfer"}}}`,
			pi, received, status, id, remaining)
	}
	send := func(evID, typ, obj, want string) {
		t.Helper()
		payload := stripeEvent(evID, typ, obj)
		r := h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
		mustStatus(t, r, http.StatusOK)
		if got := r.JSON(t)["status"]; got != want {
			t.Fatalf("%s %s: status %v, want %s", typ, evID, got, want)
		}
	}
	reconciled := func(wantPaid string, wantRefs ...string) {
		t.Helper()
		r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
		mustStatus(t, r, 200)
		m := r.JSON(t)
		var refs []string
		for _, tx := range txns(m) {
			if tx["method"] == "bank_transfer" {
				refs = append(refs, fmt.Sprint(tx["reference"]))
			}
		}
		if m["amount_paid"] != wantPaid || fmt.Sprint(refs) != fmt.Sprint(wantRefs) {
			t.Fatalf("amount_paid %v, reconciliations %v; want %s, %v", m["amount_paid"], refs, wantPaid, wantRefs)
		}
	}

	// 12.00 of 30.00 arrived: one reconciliation, whatever redelivers it.
	partial := intent("requires_action", 0, 1800)
	send("evt_partial_1", "payment_intent.partially_funded", partial, "processed")
	reconciled("12.00", pi+":received:12.00")
	send("evt_partial_1", "payment_intent.partially_funded", partial, "duplicate")
	send("evt_partial_1_again", "payment_intent.partially_funded", partial, "processed")
	reconciled("12.00", pi+":received:12.00")
	if s := h.workflowPaymentStatus(id); s != contracts.PaymentAwaitingTransfer {
		t.Fatalf("after a partial funding the workflow is %s, want awaiting_transfer", s)
	}

	// A cash-balance transaction applied to the intent: Stripe says (GET) 20.00 arrived.
	applied := fmt.Sprintf(`{"id":"ccsbtxn_1","object":"customer_cash_balance_transaction","currency":"eur","customer":"cus_123",
	  "net_amount":-800,"ending_balance":0,"type":"applied_to_payment","applied_to_payment":{"payment_intent":%q}}`, pi)
	send("evt_applied_1", "customer_cash_balance_transaction.created", applied, "processed")
	reconciled("20.00", pi+":received:12.00", pi+":received:20.00")

	// The intent succeeded: the rest, and the invoice is paid once.
	succeeded := intent("succeeded", 3000, 0)
	send("evt_succeeded_1", "payment_intent.succeeded", succeeded, "processed")
	reconciled("30.00", pi+":received:12.00", pi+":received:20.00", pi+":received:30.00")
	send("evt_succeeded_2", "payment_intent.succeeded", succeeded, "processed")
	send("evt_partial_late", "payment_intent.partially_funded", partial, "processed")
	reconciled("30.00", pi+":received:12.00", pi+":received:20.00", pi+":received:30.00")
	r = h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	if st := r.JSON(t)["status"]; st != "paid" {
		t.Fatalf("invoice status %v, want paid", st)
	}
	if got := h.events("invoice.settled"); len(got) != 1 {
		t.Fatalf("invoice.settled written %d times, want once", len(got))
	}
}

// waitPaymentStatus waits until the invoice's workflow reports the payment status.
func waitPaymentStatus(t *testing.T, h *invoiceHarness, invoiceID, status string) {
	t.Helper()
	poll.Until(t, 30*time.Second, "the workflow of "+invoiceID+" to be "+status, func() (bool, string) {
		got := h.workflowPaymentStatus(invoiceID)
		return got == status, got
	})
}

// TestStripeBankTransferFallsBackToManual: a customer Stripe does not know (no
// provider_customer_id) cannot pay into a Stripe cash balance: the invoice is emailed with
// the merchant's own account, waits in awaiting_transfer with no provider bank transfer,
// and is reconciled by hand.
func TestStripeBankTransferFallsBackToManual(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	inv := h.invoice(h.customer("EUR"), map[string]any{"payment_method": "bank_transfer"})
	id := inv["id"].(string)
	waitPaymentStatus(t, h, id, contracts.PaymentAwaitingTransfer)
	r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if bt := r.JSON(t)["bank_transfer"]; bt != nil {
		t.Fatalf("bank_transfer = %v, want none (the merchant's account)", bt)
	}
	var withInstructions bool
	if err := h.pool.QueryRow(context.Background(), `SELECT data ? 'instructions' FROM events WHERE type = $1 AND resource_id = $2`,
		"email.bank_transfer_instructions", id).Scan(&withInstructions); err != nil || withInstructions {
		t.Fatalf("the instructions email: provider instructions %v (%v), want the merchant's account", withInstructions, err)
	}
	r = h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "30.00", "reference": "BANK-1"})
	mustStatus(t, r, 200)
	if st := r.JSON(t)["invoice_status"]; st != "paid" {
		t.Fatalf("after the manual reconciliation: %v", st)
	}
}

// stripeFundedInvoice creates a 30.00 EUR bank-transfer invoice that Stripe funds (a
// customer-balance PaymentIntent recorded on it) and returns the invoice id and the intent.
func stripeFundedInvoice(t *testing.T, h *invoiceHarness) (id, pi string) {
	t.Helper()
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR",
		"provider_customer_id": "cus_123"})
	mustStatus(t, r, 201)
	id = h.invoice(r.JSON(t)["id"].(string), map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	inv := h.waitInvoice(id, "the invoice's Stripe bank transfer", func(m map[string]any) bool { return m["bank_transfer"] != nil })
	pi, _ = inv["bank_transfer"].(map[string]any)["provider_reference"].(string)
	waitPaymentStatus(t, h, id, contracts.PaymentAwaitingTransfer)
	return id, pi
}

// sendStripeEvent posts a signed Stripe event to the webhook and checks its answer.
func sendStripeEvent(t *testing.T, h *invoiceHarness, evID, typ, obj string, wantCode int, wantStatus string) {
	t.Helper()
	payload := stripeEvent(evID, typ, obj)
	r := h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, wantCode)
	if wantStatus != "" {
		if got := r.JSON(t)["status"]; got != wantStatus {
			t.Fatalf("%s %s: status %v, want %s", typ, evID, got, wantStatus)
		}
	}
}

// TestManualReconcileThenProviderReportCountsOnce: an operator reconciles by hand the
// 12.00 they saw arrive before Stripe's report; when Stripe then reports 12.00 received,
// the report adds nothing (the invoice holds 12.00, not 24.00); when it reports 30.00 it
// adds the 18.00 beyond what the invoice holds, and the invoice is paid.
func TestManualReconcileThenProviderReportCountsOnce(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	id, pi := stripeFundedInvoice(t, h)

	r := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "12.00", "reference": "BANK-12"})
	mustStatus(t, r, http.StatusOK)

	partial := fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":3000,"amount_received":0,"currency":"eur","status":"requires_action",
	  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":%q},
	  "next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{"amount_remaining":1800,"currency":"eur","reference":"STRIPEREF42","type":"eu_bank_transfer"}}}`,
		pi, id)
	sendStripeEvent(t, h, "evt_partial_after_manual", "payment_intent.partially_funded", partial, http.StatusOK, "processed")
	r = h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	m := r.JSON(t)
	if m["amount_paid"] != "12.00" || len(txns(m)) != 1 {
		t.Fatalf("amount_paid %v with %d transactions, want the hand-made 12.00 alone", m["amount_paid"], len(txns(m)))
	}
	sendStripeEvent(t, h, "evt_succeeded_after_manual", "payment_intent.succeeded", customerBalanceIntent(pi, id, "succeeded", 3000), http.StatusOK, "processed")
	r = h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if m = r.JSON(t); m["amount_paid"] != "30.00" || len(txns(m)) != 2 || m["status"] != "paid" {
		t.Fatalf("after Stripe's 30.00: status %v, amount_paid %v with %d transactions, want paid 30.00 with 2", m["status"], m["amount_paid"], len(txns(m)))
	}
}

// TestChequeByHandIsNotTransferMoney: a cheque recorded by hand (method manual) is other
// money than the transfer the provider reports: Stripe's 12.00 received is added in full.
func TestChequeByHandIsNotTransferMoney(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	id, pi := stripeFundedInvoice(t, h)
	r := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "10.00", "reference": "CHEQUE-1", "method": "manual"})
	mustStatus(t, r, http.StatusOK)
	sendStripeEvent(t, h, "evt_partial_after_cheque", "payment_intent.partially_funded", customerBalanceIntent(pi, id, "requires_action", 1200), http.StatusOK, "processed")
	r = h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["amount_paid"] != "22.00" || len(txns(m)) != 2 {
		t.Fatalf("amount_paid %v with %d transactions, want the cheque's 10.00 and the transfer's 12.00", m["amount_paid"], len(txns(m)))
	}
}

// customerBalanceIntent is a Stripe customer-balance PaymentIntent of 30.00 EUR as a
// funding event carries it, with received of it arrived (in cents) and metadata invoice_id.
func customerBalanceIntent(pi, invoiceID, status string, received int) string {
	return fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":3000,"amount_received":%d,"currency":"eur","status":%q,
	  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":%q},
	  "next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{"amount_remaining":%d,"currency":"eur","reference":"STRIPEREF42","type":"eu_bank_transfer"}}}`,
		pi, received, status, invoiceID, 3000-received)
}

// TestStripeFundingEventsPayorchCannotMatch: funding events about money payorch never asked
// for are acknowledged (200) with nothing recorded, not failed for Stripe to deliver
// forever — a cash-balance transaction applied to an intent payorch never created, an
// intent whose metadata names an invoice this database does not have — while one naming a
// local invoice whose funding is not recorded (yet) fails (500), so Stripe delivers it
// again once it is.
func TestStripeFundingEventsPayorchCannotMatch(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	applied := `{"id":"ccsbtxn_foreign","object":"customer_cash_balance_transaction","currency":"eur","customer":"cus_other",
	  "net_amount":-800,"ending_balance":0,"type":"applied_to_payment","applied_to_payment":{"payment_intent":"pi_not_payorchs"}}`
	sendStripeEvent(t, h, "evt_foreign_applied", "customer_cash_balance_transaction.created", applied, http.StatusOK, "processed")
	foreign := customerBalanceIntent("pi_other_deployment", "inv_not_in_this_database", "succeeded", 3000)
	sendStripeEvent(t, h, "evt_foreign_succeeded", "payment_intent.succeeded", foreign, http.StatusOK, "processed")

	// A local bank-transfer invoice without a Stripe funding (the merchant's account).
	id := h.invoice(h.customer("EUR"), map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	waitPaymentStatus(t, h, id, contracts.PaymentAwaitingTransfer)
	early := customerBalanceIntent("pi_not_recorded_yet", id, "requires_action", 1200)
	sendStripeEvent(t, h, "evt_not_recorded_yet", "payment_intent.partially_funded", early, http.StatusInternalServerError, "")

	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM invoice_transactions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("transactions recorded: %d (%v), want none", n, err)
	}
}

// TestStripeFundingInAnotherCurrencyIgnored: a funding report in another currency than the
// invoice's (USD for a EUR invoice) is acknowledged and nothing is recorded: 12.00 USD is
// not 12.00 EUR.
func TestStripeFundingInAnotherCurrencyIgnored(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	id, pi := stripeFundedInvoice(t, h)
	usd := strings.ReplaceAll(customerBalanceIntent(pi, id, "requires_action", 1200), `"eur"`, `"usd"`)
	sendStripeEvent(t, h, "evt_partial_usd", "payment_intent.partially_funded", usd, http.StatusOK, "processed")
	r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["amount_paid"] != "0.00" || len(txns(m)) != 0 {
		t.Fatalf("after a USD report on a EUR invoice: amount_paid %v, %d transactions; want nothing recorded", m["amount_paid"], len(txns(m)))
	}
}

// TestStripeFundingOfVoidedInvoiceCounted: money Stripe reports for an invoice voided
// since is recorded on no invoice, but not silently: the report is counted
// (payorch_unapplied_funds_total) and logged as unapplied funds.
func TestStripeFundingOfVoidedInvoiceCounted(t *testing.T) {
	h := bankTransferWebhookHarness(t)
	id, pi := stripeFundedInvoice(t, h)
	mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/void", backendKey, map[string]any{"reason": "duplicate"}), 200)

	const series, labels = "payorch_unapplied_funds_total", `invoice_status="voided",provider="stripe"`
	before := metricstest.Value(metricstest.Scrape(t, metrics.Handler()), series, labels)
	sendStripeEvent(t, h, "evt_partial_after_void", "payment_intent.partially_funded",
		customerBalanceIntent(pi, id, "requires_action", 1200), http.StatusOK, "processed")
	if got := metricstest.Value(metricstest.Scrape(t, metrics.Handler()), series, labels); got != before+1 {
		t.Fatalf("%s{%s} = %v after a funding of a voided invoice, want %v", series, labels, got, before+1)
	}
	r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["status"] != "voided" || m["amount_paid"] != "0.00" || len(txns(m)) != 0 {
		t.Fatalf("voided invoice after the funding: %v, amount_paid %v, %d transactions", m["status"], m["amount_paid"], len(txns(m)))
	}
}

// stripeBankTransferPaidAtOnceFixture is stripe-mock's PaymentIntent when the customer's
// cash balance covered the invoice: it comes back succeeded, without next_action.
const stripeBankTransferPaidAtOnceFixture = `{"resources":{"payment_intent":{"id":"pi_bt_paid_at_once","object":"payment_intent","amount":3000,
"amount_received":3000,"currency":"eur","status":"succeeded","capture_method":"automatic","confirmation_method":"automatic",
"created":1234567890,"livemode":false,"metadata":{},"payment_method_types":["customer_balance"],"next_action":null}}}`

// TestStripeBankTransferPaidAtOnce: an intent that comes back already succeeded (the
// customer's cash balance paid it) is the invoice's funding all the same — recorded (no
// instructions email: nothing to transfer), not a misconfiguration — so Stripe's
// payment_intent.succeeded matches it and pays the invoice.
func TestStripeBankTransferPaidAtOnce(t *testing.T) {
	h := bankTransferWebhookHarnessWith(t, stripeBankTransferPaidAtOnceFixture)
	id, pi := stripeFundedInvoice(t, h)
	if len(pi) < 4 || pi[:3] != "pi_" {
		t.Fatalf("provider_reference %q, want the intent", pi)
	}
	var emails int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = $1 AND resource_id = $2`,
		"email.bank_transfer_instructions", id).Scan(&emails); err != nil || emails != 0 {
		t.Fatalf("instructions emails: %d (%v), want none for an intent paid at once", emails, err)
	}
	succeeded := fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":3000,"amount_received":3000,"currency":"eur","status":"succeeded",
	  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":%q},"next_action":null}`, pi, id)
	sendStripeEvent(t, h, "evt_paid_at_once", "payment_intent.succeeded", succeeded, http.StatusOK, "processed")
	r := h.do("GET", "/v1/invoices/"+id, supportKey, nil)
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["status"] != "paid" || m["amount_paid"] != "30.00" {
		t.Fatalf("after payment_intent.succeeded: status %v, amount_paid %v; want paid 30.00", m["status"], m["amount_paid"])
	}
}
