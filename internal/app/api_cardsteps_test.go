package app

import (
	"io"
	"log/slog"
	"testing"

	"payorch/config"
)

// TestAPIDepsCarryTheCardSteps: with Stripe configured, the portal's card steps are
// Stripe's and the publishable key reaches the page.
func TestAPIDepsCarryTheCardSteps(t *testing.T) {
	t.Setenv("PAYORCH_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_123")
	t.Setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_123")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d := a.APIDeps()
	if d.CardSteps == nil || d.CardSteps.Name() != "stripe" || d.StripePublishableKey != "pk_test_123" {
		t.Fatalf("card steps %v, publishable key %q", d.CardSteps, d.StripePublishableKey)
	}
}
