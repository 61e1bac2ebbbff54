package payments

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

// TestSimulatedCardSetup: a simulated setup succeeds only once the browser (holding the
// client secret) picked a test card, and VerifyCardSetup accepts it only for its own
// customer and card; a card the form does not offer fails the setup for good.
func TestSimulatedCardSetup(t *testing.T) {
	f := newSimFixture(t)
	ctx := context.Background()
	setup, err := f.sim.CreateCardSetup(ctx, "cus_a")
	if err != nil || setup.ID == "" || setup.ClientSecret == "" {
		t.Fatalf("create: %+v %v", setup, err)
	}
	if _, err := f.sim.VerifyCardSetup(ctx, setup.ID, "cus_a", "pm_card_visa"); !errors.Is(err, ErrStepNotSucceeded) {
		t.Fatalf("verify before the form: %v, want ErrStepNotSucceeded", err)
	}
	if err := f.sim.SubmitSimulatedSetup(ctx, setup.ID, setup.ClientSecret+"x", "pm_card_visa"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("wrong client secret: %v", err)
	}
	if err := f.sim.SubmitSimulatedSetup(ctx, "seti_sim_nope", setup.ClientSecret, "pm_card_visa"); !errors.Is(err, ErrNoSuchStep) {
		t.Fatalf("unknown setup: %v", err)
	}
	if err := f.sim.SubmitSimulatedSetup(ctx, setup.ID, setup.ClientSecret, "pm_card_mastercard"); err != nil {
		t.Fatalf("submit: %v", err)
	}
	// The same answer again is fine; another card is not.
	if err := f.sim.SubmitSimulatedSetup(ctx, setup.ID, setup.ClientSecret, "pm_card_mastercard"); err != nil {
		t.Fatalf("submit again: %v", err)
	}
	if err := f.sim.SubmitSimulatedSetup(ctx, setup.ID, setup.ClientSecret, "pm_card_visa"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another card on a decided setup: %v", err)
	}
	card, err := f.sim.VerifyCardSetup(ctx, setup.ID, "cus_a", "pm_card_mastercard")
	if err != nil || card.PaymentMethodRef != "pm_card_mastercard" || card.Last4 != "4444" || card.ExpMonth != 11 || card.ExpYear != 2034 {
		t.Fatalf("verify: %+v %v", card, err)
	}
	if _, err := f.sim.VerifyCardSetup(ctx, setup.ID, "cus_b", "pm_card_mastercard"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another customer: %v", err)
	}
	if _, err := f.sim.VerifyCardSetup(ctx, setup.ID, "cus_a", "pm_card_visa"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("another card: %v", err)
	}

	bad, _ := f.sim.CreateCardSetup(ctx, "cus_a")
	if err := f.sim.SubmitSimulatedSetup(ctx, bad.ID, bad.ClientSecret, "pm_4242424242424242"); !errors.Is(err, ErrStepNotSucceeded) {
		t.Fatalf("a card the form does not offer: %v", err)
	}
	if _, err := f.sim.VerifyCardSetup(ctx, bad.ID, "cus_a", "pm_4242424242424242"); !errors.Is(err, ErrStepNotSucceeded) {
		t.Fatalf("verify a failed setup: %v", err)
	}
	if err := f.sim.SubmitSimulatedSetup(ctx, bad.ID, bad.ClientSecret, "pm_card_visa"); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("a failed setup stays failed: %v", err)
	}
}

// TestSimulatedOnSessionPayment: the same key gives the same payment (another amount
// under it is refused); the challenge decides once; approved, a card that only wanted
// authentication succeeds and a declining card still fails; declined, it fails.
func TestSimulatedOnSessionPayment(t *testing.T) {
	f := newSimFixture(t)
	ctx := context.Background()
	req := OnSessionPaymentRequest{IdempotencyKey: "inv_1:authenticate:1", CustomerRef: "cus_a", PaymentMethodRef: "pm_card_authenticationRequired",
		Amount: decimal.RequireFromString("30.00"), Currency: "EUR", Metadata: map[string]string{"invoice_id": "inv_1"}}
	p, err := f.sim.CreateOnSessionPayment(ctx, req)
	if err != nil || p.Status != OnSessionRequiresAction || p.ClientSecret == "" {
		t.Fatalf("create: %+v %v", p, err)
	}
	again, err := f.sim.CreateOnSessionPayment(ctx, req)
	if err != nil || again.ID != p.ID {
		t.Fatalf("same key: %+v %v, want %s", again, err, p.ID)
	}
	other := req
	other.Amount = decimal.RequireFromString("31.00")
	if _, err := f.sim.CreateOnSessionPayment(ctx, other); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("same key, another amount: %v", err)
	}
	if err := p.VerifySucceeded("cus_a", "inv_1", "EUR"); !errors.Is(err, ErrStepNotSucceeded) {
		t.Fatalf("verify before the challenge: %v", err)
	}
	if _, err := f.sim.SubmitSimulatedChallenge(ctx, p.ID, "wrong", true); !errors.Is(err, ErrStepMismatch) {
		t.Fatalf("wrong secret: %v", err)
	}
	done, err := f.sim.SubmitSimulatedChallenge(ctx, p.ID, p.ClientSecret, true)
	if err != nil || done.Status != OnSessionSucceeded {
		t.Fatalf("approve: %+v %v", done, err)
	}
	// Decided once: a later decline changes nothing.
	if done, err = f.sim.SubmitSimulatedChallenge(ctx, p.ID, p.ClientSecret, false); err != nil || done.Status != OnSessionSucceeded {
		t.Fatalf("decline after approve: %+v %v", done, err)
	}
	read, err := f.sim.OnSessionPayment(ctx, p.ID)
	if err != nil || read.VerifySucceeded("cus_a", "inv_1", "EUR") != nil || !read.Amount.Equal(req.Amount) {
		t.Fatalf("read: %+v %v", read, err)
	}
	for _, c := range []struct{ cust, inv, cur string }{{"cus_b", "inv_1", "EUR"}, {"cus_a", "inv_2", "EUR"}, {"cus_a", "inv_1", "USD"}} {
		if err := read.VerifySucceeded(c.cust, c.inv, c.cur); !errors.Is(err, ErrStepMismatch) {
			t.Errorf("verify for %v: %v, want ErrStepMismatch", c, err)
		}
	}

	declined := req
	declined.IdempotencyKey, declined.PaymentMethodRef = "inv_1:authenticate:2", "pm_card_chargeDeclined"
	p2, _ := f.sim.CreateOnSessionPayment(ctx, declined)
	if out, err := f.sim.SubmitSimulatedChallenge(ctx, p2.ID, p2.ClientSecret, true); err != nil || out.Status != OnSessionFailed || out.Message == "" {
		t.Fatalf("approved, but the card declines: %+v %v", out, err)
	}
	refused := req
	refused.IdempotencyKey = "inv_1:authenticate:3"
	p3, _ := f.sim.CreateOnSessionPayment(ctx, refused)
	if out, err := f.sim.SubmitSimulatedChallenge(ctx, p3.ID, p3.ClientSecret, false); err != nil || out.Status != OnSessionFailed {
		t.Fatalf("declined: %+v %v", out, err)
	}
	if _, err := f.sim.OnSessionPayment(ctx, "pi_sim_nope"); !errors.Is(err, ErrNoSuchStep) {
		t.Fatalf("unknown payment: %v", err)
	}
}
