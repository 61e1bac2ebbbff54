package workflows

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	c "payorch/contracts"
	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
)

// expiryFixture is an expiring free credit of 30.00 (expiring 30 days after start) on a
// real database, 12.50 of it spent, and a time-skipping test environment hosting
// CreditExpiry with the real activities.
type expiryFixture struct {
	t      *testing.T
	tenv   *testsuite.TestWorkflowEnvironment
	pool   *pgxpool.Pool
	l      *ledger.Ledger
	wallet string
	credit ledger.Load
	timers []time.Duration
}

func newExpiryFixture(t *testing.T) *expiryFixture {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Second)
	f := &expiryFixture{t: t, pool: pool, l: ledger.New(pool)}
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := f.l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	must(t, err)
	f.wallet = w.ID
	at := start.Add(30 * 24 * time.Hour)
	f.credit, err = f.l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "30.00", Type: ledger.LoadFree, ExpiresAt: &at})
	must(t, err)
	_, err = f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, pool, cust, "12.50"), 1)
	must(t, err)

	suite := &testsuite.WorkflowTestSuite{}
	f.tenv = suite.NewTestWorkflowEnvironment()
	f.tenv.SetStartTime(start)
	f.tenv.SetTestTimeout(30 * time.Second)
	f.tenv.RegisterWorkflow(CreditExpiry)
	f.tenv.RegisterActivityWithOptions(&activities.Activities{Pool: pool, Now: f.tenv.Now}, activity.RegisterOptions{})
	f.tenv.SetOnTimerScheduledListener(func(_ string, d time.Duration) { f.timers = append(f.timers, d) })
	t.Cleanup(func() { ledgertest.AssertBalanced(t, pool) })
	return f
}

func (f *expiryFixture) run() c.CreditExpiryResult {
	f.t.Helper()
	f.tenv.ExecuteWorkflow(CreditExpiry, c.CreditExpiryInput{TransactionID: *f.credit.WalletTransactionID, ExpiresAt: *f.credit.ExpiresAt})
	if !f.tenv.IsWorkflowCompleted() {
		f.t.Fatal("the expiry workflow did not complete")
	}
	must(f.t, f.tenv.GetWorkflowError())
	var res c.CreditExpiryResult
	must(f.t, f.tenv.GetWorkflowResult(&res))
	return res
}

func (f *expiryFixture) balance() string {
	return ledgertest.Balance(f.t, f.pool, f.wallet).StringFixed(2)
}

// TestCreditExpiryTimer: the workflow sleeps until expires_at (one 30-day timer, skipped
// by the test clock) and then debits the unused 17.50, once.
func TestCreditExpiryTimer(t *testing.T) {
	f := newExpiryFixture(t)
	if f.balance() != "17.50" {
		t.Fatalf("balance %s before the expiry", f.balance())
	}
	res := f.run()
	if len(f.timers) != 1 || f.timers[0] < 30*24*time.Hour-time.Minute {
		t.Fatalf("timers %v, want one of 30 days", f.timers)
	}
	if res.Amount != "17.5" || res.ExpiryTransactionID == "" || f.balance() != "0.00" {
		t.Fatalf("result %+v, balance %s", res, f.balance())
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.credit_expired' AND resource_id = $1", res.ExpiryTransactionID); n != 1 {
		t.Fatalf("%d wallet.credit_expired events", n)
	}
}

// TestCreditExpiryAfterRevert: a credit reverted while its timer runs does not expire
// again: the workflow ends with nothing debited.
func TestCreditExpiryAfterRevert(t *testing.T) {
	f := newExpiryFixture(t)
	f.tenv.RegisterDelayedCallback(func() {
		if _, err := f.l.Revert(context.Background(), f.wallet, *f.credit.WalletTransactionID); err != nil {
			t.Errorf("revert: %v", err)
		}
	}, 10*24*time.Hour)
	// The revert needs the balance to cover the whole credit: top up first.
	if _, err := f.l.RequestLoad(context.Background(), f.wallet, ledger.LoadInput{Amount: "20.00", Type: ledger.LoadFree}); err != nil {
		t.Fatal(err)
	}
	res := f.run()
	if res.ExpiryTransactionID != "" || res.Skipped != ledger.ExpiryReverted || f.balance() != "7.50" {
		t.Fatalf("result %+v, balance %s", res, f.balance())
	}
	if n := ledgertest.Count(t, f.pool, "wallet_transactions", "type = 'expiry'"); n != 0 {
		t.Fatalf("a reverted credit expired: %d expiry rows", n)
	}
}

// TestCreditExpiryHistories runs CreditExpiry on the real dev server with the real
// activities (a credit expiring two seconds after it is made), replays the history against
// the current code, and records it when PAYORCH_RECORD_HISTORIES=1, so a later change to
// the workflow must replay it.
func TestCreditExpiryHistories(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	must(t, err)
	at := time.Now().Add(2 * time.Second)
	ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "9.00", Type: ledger.LoadFree, ExpiresAt: &at})
	must(t, err)
	queue := "test-credit-expiry-" + ids.New("q")
	wk := worker.New(env.Temporal, queue, worker.Options{})
	wk.RegisterWorkflowWithOptions(CreditExpiry, workflow.RegisterOptions{Name: c.CreditExpiryWorkflow})
	wk.RegisterActivity(&activities.Activities{Pool: pool})
	must(t, wk.Start())
	defer wk.Stop()
	runCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	run, err := env.Temporal.ExecuteWorkflow(runCtx, client.StartWorkflowOptions{ID: c.CreditExpiryWorkflowID(*ld.WalletTransactionID),
		TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, c.CreditExpiryWorkflow,
		c.CreditExpiryInput{TransactionID: *ld.WalletTransactionID, ExpiresAt: *ld.ExpiresAt})
	must(t, err)
	var res c.CreditExpiryResult
	must(t, run.Get(runCtx, &res))
	if res.Amount != "9" || res.ExpiryTransactionID == "" {
		t.Fatalf("result %+v", res)
	}
	hist := fetchHistory(t, run.GetID(), run.GetRunID())
	if err := newReplayer().ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatalf("replay against the current code: %v", err)
	}
	if os.Getenv(recordEnv) == "1" {
		recordHistory(t, "credit_expiry_expired", hist)
	}
	ledgertest.AssertBalanced(t, pool)
}
