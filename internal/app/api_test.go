package app

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"payorch/config"
)

// TestAPIDepsCarryTheConfiguration: every setting the API uses reaches it from the
// process's configuration (a setting left out made every invoice a 503 in make run).
func TestAPIDepsCarryTheConfiguration(t *testing.T) {
	t.Setenv("PAYORCH_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
	t.Setenv("PAYORCH_TASK_QUEUE", "payments-eu")
	t.Setenv("PAYORCH_RETRY_SCHEDULE", "2h,3h,4h") // totals 9h: processing_error (1h15m) fits in it
	t.Setenv("PAYORCH_DUNNING_BY_ERROR_TYPE", "processing_error=15m,1h")
	t.Setenv("PAYORCH_API_KEYS", "backend:key_backend_1,support:key_support_1")
	t.Setenv("PAYORCH_PORTAL_MAX_LOAD", "50")
	t.Setenv("PAYORCH_PORTAL_MAX_BALANCE", "200")
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_test")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	d := a.APIDeps()
	checks := map[string][2]string{
		"task queue":      {d.TaskQueue, "payments-eu"},
		"retry schedule":  {fmt.Sprint(d.RetrySchedule), "[2h0m0s 3h0m0s 4h0m0s]"},
		"dunning by type": {fmt.Sprint(d.DunningByErrorType), "map[processing_error:[15m0s 1h0m0s]]"},
		// The worker's sweeper starts workflows with the policy in force too.
		"sweeper's policy": {fmt.Sprint(a.Sweeper().Collection.Settings != nil), "true"},
		"keys":             {fmt.Sprint(len(d.Keys)), "2"},
		"portal load":      {d.PortalLimits.MaxLoad.String(), "50"},
		"portal balance":   {d.PortalLimits.MaxBalance.String(), "200"},
		"stripe secret":    {d.StripeWebhookSecret, "whsec_test"},
		"provider events":  {fmt.Sprint(d.ProviderEvents != nil), "true"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
}
