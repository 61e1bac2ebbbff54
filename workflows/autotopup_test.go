package workflows

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"payorch/activities"
	c "payorch/contracts"
	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
)

// TestWalletAutoTopUpRun runs WalletAutoTopUp (what the monthly schedule starts) on the
// dev server with the real activities: the month's load is made and charged by its
// WalletLoad child (credited once); a second run the same month finds the same load and
// charges nothing more; a wallet whose auto top-up has no monthly_on gets none. A
// declined monthly load counts as a failed auto load.
func TestWalletAutoTopUpRun(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	provider := ledgertest.NewFakeProvider()
	queue := "test-auto-top-up-" + ids.New("q")
	wk := worker.New(env.Temporal, queue, worker.Options{})
	wk.RegisterWorkflow(WalletLoad)
	wk.RegisterWorkflow(WalletAutoTopUp)
	wk.RegisterActivity(&activities.Activities{Pool: pool, Provider: provider})
	must(t, wk.Start())
	t.Cleanup(wk.Stop)
	t.Cleanup(func() { ledgertest.AssertBalanced(t, pool) })

	wallet := func(pm string, day *int) string {
		cust := ledgertest.Customer(t, pool, "EUR")
		ledgertest.DefaultMethod(t, pool, cust, pm)
		below := "5.00"
		s := ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true, Value: &ledger.AutoTopUpInput{Amount: "25.00", MonthlyOn: day}}}
		if day == nil {
			s.AutoTopUp.Value.Below = &below
		}
		w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust, Settings: &s})
		must(t, err)
		return w.ID
	}
	var last client.WorkflowRun
	run := func(walletID string) c.WalletAutoTopUpResult {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		r, err := env.Temporal.ExecuteWorkflow(rctx, client.StartWorkflowOptions{
			ID: c.WalletAutoTopUpScheduleID(walletID) + "-" + ids.New("run"), TaskQueue: queue, WorkflowExecutionTimeout: time.Minute,
		}, c.WalletAutoTopUpWorkflow, c.WalletAutoTopUpInput{WalletID: walletID})
		must(t, err)
		var out c.WalletAutoTopUpResult
		must(t, r.Get(rctx, &out))
		last = r
		return out
	}
	day := 3
	w := wallet(ledgertest.PMSettle, &day)
	first := run(w)
	// The monthly run's history (a load made and charged by its WalletLoad child) replays
	// against the current code, and is recorded so a later change must replay it.
	hist := fetchHistory(t, last.GetID(), last.GetRunID())
	if err := newReplayer().ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("replay of the monthly run against the current code: %v", err)
	}
	if os.Getenv(recordEnv) == "1" {
		recordHistory(t, "wallet_auto_top_up_monthly", hist)
	}
	if first.Load.ID == "" || first.Load.Status != "settled" {
		t.Fatalf("first run: %+v", first)
	}
	again := run(w)
	if again.Load.ID != first.Load.ID || again.Load.Status != "settled" {
		t.Fatalf("second run the same month: %+v (want load %s as it stands)", again, first.Load.ID)
	}
	if b := ledgertest.Balance(t, pool, w).StringFixed(2); b != "25.00" || provider.Charges() != 1 {
		t.Fatalf("balance %s after %d charges, want 25.00 after 1", b, provider.Charges())
	}

	if none := run(wallet(ledgertest.PMSettle, nil)); none.Load.ID != "" || none.Skipped != "no_monthly_load" {
		t.Fatalf("wallet without monthly_on: %+v", none)
	}

	declined := wallet(ledgertest.PMDecline, &day)
	if r := run(declined); r.Load.Status != "failed" {
		t.Fatalf("declined monthly load: %+v", r)
	}
	got, err := l.GetWallet(ctx, declined)
	must(t, err)
	if a := got.Settings.AutoTopUp; a.ConsecutiveFailures != 1 || a.Status != ledger.AutoTopUpActive {
		t.Fatalf("after a declined monthly load: %+v", a)
	}
}
