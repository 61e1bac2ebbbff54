package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"payorch/config"
	"payorch/contracts"
	"payorch/customers"
	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
)

// TestProviderEventsReverseStripeDisputedLoad: a Stripe charge.dispute.funds_withdrawn about a
// settled paid load's PaymentIntent, parsed as the webhook route parses it and handed to
// the process's provider event handler, takes back what the wallet holds, opens an invoice
// for the rest and starts its payment workflow (invoice-payment/<id>) through collection;
// the dispute delivered again changes nothing; a dispute about a charge that is no load's
// is acknowledged.
func TestProviderEventsReverseStripeDisputedLoad(t *testing.T) {
	ctx := context.Background()
	pool, _ := env.Postgres.NewPool(t)
	queue := "test-reversal-" + ids.New("q")
	a := &App{Config: config.Config{TaskQueue: queue}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Pool: pool, Temporal: env.Temporal}
	cust := ledgertest.Customer(t, pool, "EUR")
	pmRef := "pm_card_visa"
	if _, err := customers.NewService(pool).AddPaymentMethod(ctx, cust, customers.PaymentMethodInput{
		Type: customers.TypeCard, ProviderID: &pmRef, Default: new(true), ExpMonth: new(int32(12)), ExpYear: new(int32(time.Now().Year() + 1))}); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(pool)
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "40.00", Type: "paid"})
	if err == nil {
		_, err = l.PrepareLoad(ctx, ld.ID)
	}
	if err == nil {
		_, err = l.CompleteLoad(ctx, ld.ID, payments.ChargeResult{Status: payments.StatusSettled, Reference: "pi_disputed_1"})
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DebitForInvoice(ctx, ledgertest.Invoice(t, pool, cust, "25.00"), 1); err != nil {
		t.Fatal(err)
	}

	const secret = "whsec_reversal_test"
	payload := []byte(`{"id":"evt_dispute_1","object":"event","api_version":"2023-10-16","created":1700000000,"livemode":false,` +
		`"type":"charge.dispute.funds_withdrawn","data":{"object":{"id":"dp_1","object":"dispute","charge":"ch_1","payment_intent":"pi_disputed_1","reason":"fraudulent"}}}`)
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()}).Header
	ev, ok, err := payments.ParseStripeEvent(payload, sig, secret)
	if err != nil || !ok {
		t.Fatalf("parse dispute: %v %v", ok, err)
	}
	handler := a.ProviderEvents()
	for range 2 {
		if err := handler.HandleProviderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.LoadByID(ctx, ld.ID)
	if err != nil || got.Reversal == nil || got.Reversal.TakenBack != "15.00" || got.Reversal.Invoiced != "25.00" || got.Reversal.InvoiceID == nil {
		t.Fatalf("load after the dispute: %+v %v", got, err)
	}
	if b := ledgertest.Balance(t, pool, w.ID); !b.IsZero() {
		t.Fatalf("balance %s after the dispute, want 0", b)
	}
	inv := *got.Reversal.InvoiceID
	desc, err := env.Temporal.DescribeWorkflowExecution(ctx, contracts.InvoicePaymentWorkflowID(inv), "")
	if err != nil {
		t.Fatalf("the invoice for the rest has no payment workflow: %v", err)
	}
	if name := desc.WorkflowExecutionInfo.Type.Name; name != contracts.InvoicePaymentWorkflow {
		t.Fatalf("workflow %s", name)
	}
	_ = env.Temporal.TerminateWorkflow(ctx, contracts.InvoicePaymentWorkflowID(inv), "", "test over")
	if n := ledgertest.Count(t, pool, "invoices", "id = $1 AND collection_started_at IS NOT NULL AND total = 25", inv); n != 1 {
		t.Fatal("the invoice for the rest is not recorded as collected")
	}
	if n := ledgertest.Count(t, pool, "events", "type = 'wallet.load_reversed'"); n != 1 {
		t.Fatalf("%d wallet.load_reversed events, want 1", n)
	}
	other := payments.Event{ID: "evt_dispute_2", Provider: "stripe", Reference: "pi_no_load", Status: payments.StatusReversed}
	if err := handler.HandleProviderEvent(ctx, other); err != nil {
		t.Fatalf("a dispute about no load: %v", err)
	}
	ledgertest.AssertBalanced(t, pool)
}
