package payments

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestStripeCardStepsRequests: the SetupIntent is for the customer's cards with
// usage=off_session; the on-session PaymentIntent names the saved card and is neither
// confirmed nor off-session (Stripe.js confirms it with the customer present).
func TestStripeCardStepsRequests(t *testing.T) {
	f := newFakeStripe(t, 200, `{"id":"seti_1","object":"setup_intent","client_secret":"seti_1_secret_x","status":"requires_payment_method"}`)
	setup, err := newTestStripe(t, f.srv.URL).CreateCardSetup(context.Background(), "cus_123")
	if err != nil || setup.ID != "seti_1" || setup.ClientSecret != "seti_1_secret_x" {
		t.Fatalf("setup: %+v %v", setup, err)
	}
	r := f.only(t)
	if r.method != http.MethodPost || r.path != "/v1/setup_intents" {
		t.Fatalf("request %s %s", r.method, r.path)
	}
	for k, v := range map[string]string{"customer": "cus_123", "usage": "off_session", "payment_method_types[0]": "card"} {
		if got := r.form.Get(k); got != v {
			t.Errorf("setup form %s = %q, want %q", k, got, v)
		}
	}

	f = newFakeStripe(t, 200, `{"id":"pi_1","object":"payment_intent","amount":3000,"currency":"eur","status":"requires_action","client_secret":"pi_1_secret_x","customer":"cus_123","metadata":{"invoice_id":"inv_1"}}`)
	p, err := newTestStripe(t, f.srv.URL).CreateOnSessionPayment(context.Background(), OnSessionPaymentRequest{IdempotencyKey: "inv_1:authenticate:1",
		CustomerRef: "cus_123", PaymentMethodRef: "pm_card_visa", Amount: decimal.RequireFromString("30.00"), Currency: "EUR", Metadata: map[string]string{"invoice_id": "inv_1"}})
	if err != nil || p.ID != "pi_1" || p.ClientSecret != "pi_1_secret_x" || p.Status != OnSessionRequiresAction || !p.Amount.Equal(decimal.RequireFromString("30")) {
		t.Fatalf("payment: %+v %v", p, err)
	}
	r = f.only(t)
	for k, v := range map[string]string{"amount": "3000", "currency": "eur", "customer": "cus_123", "payment_method": "pm_card_visa",
		"payment_method_types[0]": "card", "metadata[invoice_id]": "inv_1", "metadata[amount]": "30.00", "confirm": "", "off_session": ""} {
		if got := r.form.Get(k); got != v {
			t.Errorf("payment form %s = %q, want %q", k, got, v)
		}
	}
	if r.header.Get("Idempotency-Key") != "inv_1:authenticate:1" {
		t.Errorf("Idempotency-Key = %q", r.header.Get("Idempotency-Key"))
	}
}

// TestStripeCardStepsAgainstStripeMock sends the card steps through stripe-go to
// stripe-mock (which checks every parameter against Stripe's OpenAPI spec), and verifies
// setups and payments from fixtures: succeeded for the customer is accepted; the bundled
// (unfinished) fixtures, another customer, another card, another amount's currency are not.
func TestStripeCardStepsAgainstStripeMock(t *testing.T) {
	fixtures := filepath.Join(t.TempDir(), "fixtures.json")
	const fx = `{"resources":{` +
		`"setup_intent":{"id":"seti_fixture","object":"setup_intent","client_secret":"seti_fixture_secret_x","status":"succeeded","customer":"cus_123","usage":"off_session",` +
		`"payment_method":"pm_fixture","payment_method_types":["card"],"created":1234567890,"livemode":false,"metadata":{}},` +
		`"payment_method":{"id":"pm_fixture","object":"payment_method","type":"card","created":1234567890,"livemode":false,"metadata":{},` +
		`"billing_details":{"address":null,"email":null,"name":null,"phone":null},` +
		`"card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2031,"country":"US","funding":"credit","networks":null,"three_d_secure_usage":null,"wallet":null,"checks":null}},` +
		`"payment_intent":{"id":"pi_fixture","object":"payment_intent","client_secret":"pi_fixture_secret_x","amount":3000,"currency":"eur","status":"succeeded","customer":"cus_123",` +
		`"capture_method":"automatic","confirmation_method":"automatic","created":1234567890,"livemode":false,"metadata":{"invoice_id":"inv_1","amount":"30.00"},"payment_method_types":["card"]}}}`
	if err := os.WriteFile(fixtures, []byte(fx), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newTestStripe(t, startStripeMock(t, "-fixtures", fixtures))

	setup, err := s.CreateCardSetup(ctx, "cus_123")
	if err != nil || !strings.HasPrefix(setup.ID, "seti_") || setup.ClientSecret == "" {
		t.Fatalf("create setup against stripe-mock: %+v %v", setup, err)
	}
	card, err := s.VerifyCardSetup(ctx, "seti_fixture", "cus_123", "pm_fixture")
	if err != nil || card.PaymentMethodRef != "pm_fixture" || card.Last4 != "4242" || card.ExpMonth != 12 || card.ExpYear != 2031 {
		t.Fatalf("verify: %+v %v", card, err)
	}
	if _, err := s.VerifyCardSetup(ctx, "seti_fixture", "cus_other", "pm_fixture"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another customer: %v", err)
	}
	if _, err := s.VerifyCardSetup(ctx, "seti_fixture", "cus_123", "pm_other"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another card: %v", err)
	}

	p, err := s.CreateOnSessionPayment(ctx, OnSessionPaymentRequest{IdempotencyKey: "inv_1:authenticate:1", CustomerRef: "cus_123",
		PaymentMethodRef: "pm_card_visa", Amount: decimal.RequireFromString("30.00"), Currency: "EUR", Metadata: map[string]string{"invoice_id": "inv_1"}})
	if err != nil || !strings.HasPrefix(p.ID, "pi_") {
		t.Fatalf("create payment against stripe-mock: %+v %v", p, err)
	}
	read, err := s.OnSessionPayment(ctx, "pi_fixture")
	if err != nil || read.VerifySucceeded("cus_123", "inv_1", "EUR") != nil || !read.Amount.Equal(decimal.RequireFromString("30")) {
		t.Fatalf("read payment: %+v %v", read, err)
	}
	if err := read.VerifySucceeded("cus_123", "inv_1", "USD"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another currency: %v", err)
	}
	changed := read
	changed.Amount = decimal.RequireFromString("29.00")
	if err := changed.VerifySucceeded("cus_123", "inv_1", "EUR"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another amount than asked for: %v", err)
	}

	// stripe-mock's bundled fixtures are unfinished intents: neither is accepted.
	bundled := newTestStripe(t, startStripeMock(t))
	if _, err := bundled.VerifyCardSetup(ctx, "seti_123", "cus_123", "pm_123"); !errors.Is(err, ErrStepNotSucceeded) && !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("bundled setup: %v", err)
	}
	bp, err := bundled.OnSessionPayment(ctx, "pi_123")
	if err != nil {
		t.Fatalf("bundled payment: %v", err)
	}
	if err := bp.VerifySucceeded(bp.CustomerRef, bp.Metadata["invoice_id"], bp.Currency); err == nil {
		t.Fatalf("bundled payment %+v verified", bp)
	}
}
