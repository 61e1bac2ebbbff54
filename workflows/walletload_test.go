package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	c "payorch/contracts"
	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
	"payorch/steps"
)

// registerOtherWorkflowsForReplay registers the workflows besides InvoicePayment whose
// recorded histories live in testdata/.
func registerOtherWorkflowsForReplay(r worker.WorkflowReplayer) {
	r.RegisterWorkflow(WalletLoad)
	r.RegisterWorkflowWithOptions(CreditExpiry, workflow.RegisterOptions{Name: c.CreditExpiryWorkflow})
	r.RegisterWorkflowWithOptions(WalletAutoTopUp, workflow.RegisterOptions{Name: c.WalletAutoTopUpWorkflow})
}

// loadFixture is a paid wallet load, a fake provider (the PSP boundary) and a worker on
// its own task queue of the real dev server hosting WalletLoad and the real activities.
type loadFixture struct {
	t        *testing.T
	pool     *pgxpool.Pool
	l        *ledger.Ledger
	provider *ledgertest.FakeProvider
	acts     *activities.Activities
	queue    string
	wallet   string
	load     ledger.Load
}

func newLoadFixture(t *testing.T, pm, amount string) *loadFixture {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	ledgertest.DefaultMethod(t, pool, cust, pm)
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	must(t, err)
	ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: amount, Type: ledger.LoadPaid})
	must(t, err)
	f := &loadFixture{t: t, pool: pool, l: l, provider: ledgertest.NewFakeProvider(), queue: "test-wallet-load-" + ids.New("q"),
		wallet: w.ID, load: ld}
	f.acts = &activities.Activities{Pool: pool, Provider: f.provider}
	wk := worker.New(env.Temporal, f.queue, worker.Options{})
	wk.RegisterWorkflow(WalletLoad)
	wk.RegisterActivity(f.acts)
	must(t, wk.Start())
	t.Cleanup(wk.Stop)
	t.Cleanup(func() { ledgertest.AssertBalanced(t, pool) })
	return f
}

// run starts the load's workflow (by its contract name and id) and waits for its result.
func (f *loadFixture) run(opts ...func(*client.StartWorkflowOptions)) (c.WalletLoadResult, client.WorkflowRun) {
	f.t.Helper()
	o := client.StartWorkflowOptions{ID: c.WalletLoadWorkflowID(f.load.ID), TaskQueue: f.queue, WorkflowExecutionTimeout: time.Minute}
	for _, fn := range opts {
		fn(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := env.Temporal.ExecuteWorkflow(ctx, o, c.WalletLoadWorkflow, c.WalletLoadInput{LoadID: f.load.ID})
	must(f.t, err)
	var res c.WalletLoadResult
	must(f.t, run.Get(ctx, &res))
	return res, run
}

func (f *loadFixture) key() string { return ledger.ChargeIdempotencyKey(f.load.ID) }

func (f *loadFixture) balance() string {
	return ledgertest.Balance(f.t, f.pool, f.wallet).StringFixed(2)
}

func (f *loadFixture) count(table, where string, args ...any) int {
	return ledgertest.Count(f.t, f.pool, table, where, args...)
}

// replayAndRecord replays the run's history against the current code, and records it in
// testdata/<currentShape>/ when PAYORCH_RECORD_HISTORIES=1.
func (f *loadFixture) replayAndRecord(run client.WorkflowRun, name string) {
	f.t.Helper()
	hist := fetchHistory(f.t, run.GetID(), run.GetRunID())
	if err := newReplayer().ReplayWorkflowHistory(nil, hist); err != nil {
		f.t.Fatalf("replay against the current code: %v", err)
	}
	if os.Getenv(recordEnv) == "1" {
		recordHistory(f.t, "wallet_load_"+name, hist)
	}
}

func TestWalletLoadSettled(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMSettle, "50.00")
	res, run := f.run()
	if res.Status != ledger.LoadSettled || res.WalletTransactionID == "" || res.InvoiceID == "" || res.ErrorType != "" {
		t.Fatalf("result %+v", res)
	}
	if f.balance() != "50.00" || f.provider.Calls(f.key()) != 1 || !f.provider.Captured(f.key()).Equal(ledgertest.Balance(t, f.pool, f.wallet)) {
		t.Fatalf("balance %s, %d calls", f.balance(), f.provider.Calls(f.key()))
	}
	if n := f.count("invoices", "id = $1 AND kind = 'wallet_load' AND status = 'paid' AND total = 50 AND amount_paid = 50 AND paid_at IS NOT NULL", res.InvoiceID); n != 1 {
		t.Fatal("the load's invoice is not paid")
	}
	if n := f.count("invoice_transactions", "invoice_id = $1 AND method = 'card' AND status = 'settled' AND idempotency_key = $2 AND provider_reference IS NOT NULL", res.InvoiceID, f.key()); n != 1 {
		t.Fatal("no settled card transaction on the load's invoice")
	}
	if n := f.count("wallet_transactions", "id = $1 AND type = 'credit_paid' AND source = 'api' AND load_id = $2 AND invoice_id = $3", res.WalletTransactionID, f.load.ID, res.InvoiceID); n != 1 {
		t.Fatal("no credit_paid transaction for the load")
	}
	if f.count("receipts", "load_id = $1 AND invoice_id = $2 AND amount = 50", f.load.ID, res.InvoiceID) != 1 ||
		f.count("events", "type = 'wallet.credited' AND resource_id = $1", res.WalletTransactionID) != 1 ||
		f.count("events", "type = 'email.load_receipt'") != 1 {
		t.Fatal("receipt or events missing")
	}
	f.replayAndRecord(run, "settled")
}

func TestWalletLoadDeclined(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMDecline, "20.00")
	res, run := f.run()
	if res.Status != ledger.LoadFailed || res.ErrorType != string(payments.ErrPaymentMethodDeclined) || res.WalletTransactionID != "" {
		t.Fatalf("result %+v", res)
	}
	if f.balance() != "0.00" || f.count("wallet_transactions", "") != 0 || f.count("events", "type = 'wallet.credited'") != 0 || f.count("receipts", "") != 0 {
		t.Fatal("a declined load credited something")
	}
	if f.count("invoices", "id = $1 AND status = 'voided' AND amount_paid = 0", res.InvoiceID) != 1 ||
		f.count("invoice_transactions", "invoice_id = $1 AND status = 'failed' AND error_type = 'payment_method_declined' AND decline_code = 'insufficient_funds'", res.InvoiceID) != 1 {
		t.Fatal("the failed charge is not recorded on a voided invoice")
	}
	ld, err := f.l.GetLoad(context.Background(), f.wallet, f.load.ID)
	must(t, err)
	if ld.Status != ledger.LoadFailed || ld.ErrorType == nil || *ld.ErrorType != "payment_method_declined" || ld.DeclineCode == nil {
		t.Fatalf("load %+v", ld)
	}
	f.replayAndRecord(run, "declined")
}

// TestWalletLoadProviderOutage: infrastructure errors are retried with backoff under the
// same idempotency key; a provider that refuses the request for good fails the load with
// provider_error and credits nothing.
func TestWalletLoadProviderOutage(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMSettle, "10.00")
	f.provider.FailNext(ledgertest.PMSettle, 2)
	res, _ := f.run()
	if res.Status != ledger.LoadSettled || f.provider.Calls(f.key()) != 3 || f.provider.Charges() != 1 || f.balance() != "10.00" {
		t.Fatalf("result %+v after %d calls, %d charges, balance %s", res, f.provider.Calls(f.key()), f.provider.Charges(), f.balance())
	}

	g := newLoadFixture(t, ledgertest.PMBroken, "10.00")
	res, _ = g.run()
	if res.Status != ledger.LoadFailed || res.ErrorType != string(payments.ErrProviderError) || g.balance() != "0.00" {
		t.Fatalf("broken provider: %+v, balance %s", res, g.balance())
	}
}

// TestWalletLoadDirectDebit: a pending charge leaves the load pending; the provider's
// later event (by charge reference) settles it once.
func TestWalletLoadDirectDebit(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMPending, "30.00")
	res, _ := f.run()
	if res.Status != ledger.LoadPending || f.balance() != "0.00" {
		t.Fatalf("result %+v, balance %s", res, f.balance())
	}
	r, ok := f.provider.Result(f.key())
	if !ok || f.count("wallet_loads", "id = $1 AND charge_reference = $2", f.load.ID, r.Reference) != 1 ||
		f.count("invoice_transactions", "invoice_id = $1 AND status = 'pending' AND method = 'direct_debit'", res.InvoiceID) != 1 {
		t.Fatal("the pending charge is not recorded")
	}
	ctx := context.Background()
	if _, err := f.acts.ResolveWalletLoadCharge(ctx, payments.Event{ID: "evt_1", Reference: "pi_unknown", Status: payments.StatusSettled}); err == nil {
		t.Fatal("an unknown reference resolved a load")
	}
	for i := 0; i < 2; i++ { // the provider delivers its event twice
		ld, err := f.acts.ResolveWalletLoadCharge(ctx, payments.Event{ID: "evt_2", Reference: r.Reference, Status: payments.StatusSettled})
		must(t, err)
		if ld.Status != ledger.LoadSettled {
			t.Fatalf("load %+v", ld)
		}
	}
	if f.balance() != "30.00" || f.count("wallet_transactions", "") != 1 ||
		f.count("invoices", "id = $1 AND status = 'paid'", res.InvoiceID) != 1 ||
		f.count("invoice_transactions", "invoice_id = $1 AND status = 'settled'", res.InvoiceID) != 1 {
		t.Fatalf("balance %s after the settled event", f.balance())
	}
}

// TestWalletLoadCrashAndReplay: a worker that charged and died before crediting, a
// completion run twice, and the whole workflow run again after it finished: one charge,
// one credit.
func TestWalletLoadCrashAndReplay(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMSettle, "40.00")
	ctx := context.Background()
	// The first worker prepared the load and charged it, then crashed before recording.
	_, err := f.acts.PrepareWalletLoad(ctx, c.WalletLoadInput{LoadID: f.load.ID})
	must(t, err)
	charged, err := f.acts.ChargeWalletLoad(ctx, c.WalletLoadInput{LoadID: f.load.ID})
	must(t, err)
	if charged.Status != string(payments.StatusSettled) || f.balance() != "0.00" {
		t.Fatalf("charge %+v, balance %s", charged, f.balance())
	}
	// The workflow runs (again): the same key returns the same charge, credited once.
	res, _ := f.run()
	if res.Status != ledger.LoadSettled || f.provider.Charges() != 1 || f.provider.Calls(f.key()) != 2 || f.balance() != "40.00" {
		t.Fatalf("after the retry: %+v, %d charges, %d calls, balance %s", res, f.provider.Charges(), f.provider.Calls(f.key()), f.balance())
	}
	// The completion activity retried (its first result was lost): nothing changes.
	again, err := f.acts.CompleteWalletLoad(ctx, steps.CompleteWalletLoadInput{LoadID: f.load.ID, Result: charged})
	must(t, err)
	if again.Status != ledger.LoadSettled || again.WalletTransactionID != res.WalletTransactionID {
		t.Fatalf("second completion %+v", again)
	}
	// The whole workflow run again after it finished (same id): no new charge, no credit.
	res2, _ := f.run(func(o *client.StartWorkflowOptions) {
		o.WorkflowIDReusePolicy = enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	})
	if res2.Status != ledger.LoadSettled || res2.WalletTransactionID != res.WalletTransactionID || f.provider.Calls(f.key()) != 2 {
		t.Fatalf("second run %+v, %d calls", res2, f.provider.Calls(f.key()))
	}
	if f.balance() != "40.00" || f.count("wallet_transactions", "") != 1 || f.count("receipts", "") != 1 ||
		f.count("invoices", "") != 1 || f.count("events", "type = 'wallet.credited'") != 1 {
		t.Fatal("money or documents doubled")
	}
}

// TestWalletLoadRecordedHistories replays the WalletLoad histories recorded in every
// released shape's folder, testdata/*/ (see currentShape).
func TestWalletLoadRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "wallet_load_*.json"))
	must(t, err)
	if len(files) < 2 {
		t.Fatalf("%d recorded WalletLoad histories in testdata/, want settled and declined", len(files))
	}
	for _, file := range files {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflow(WalletLoad)
		if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
			t.Fatalf("replay of %s: %v", file, err)
		}
	}
}

// TestLedgerActivities: the activity forms of the invoice debit and its refund, and their
// failures: a ledger refusal is non-retryable, with a type naming it.
func TestLedgerActivities(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMSettle, "40.00")
	f.run()
	ctx := context.Background()
	var cust string
	must(t, f.pool.QueryRow(ctx, "SELECT customer_id FROM wallets WHERE id = $1", f.wallet).Scan(&cust))
	inv := ledgertest.Invoice(t, f.pool, cust, "25.00")
	r, err := f.acts.DebitWallet(ctx, steps.DebitWalletInput{InvoiceID: inv, Attempt: 1})
	must(t, err)
	again, err := f.acts.DebitWallet(ctx, steps.DebitWalletInput{InvoiceID: inv, Attempt: 1})
	must(t, err)
	if r.Amount != "25" || !again.Replayed || again.WalletTransactionID != r.WalletTransactionID || f.balance() != "15.00" {
		t.Fatalf("debit %+v / %+v, balance %s", r, again, f.balance())
	}
	must(t, func() error {
		_, err := f.pool.Exec(ctx, "UPDATE invoices SET status = 'voided' WHERE id = $1", inv)
		return err
	}())
	back, err := f.acts.RefundWalletDebits(ctx, steps.InvoiceRef{InvoiceID: inv})
	must(t, err)
	if back.Amount != "25" || f.balance() != "40.00" {
		t.Fatalf("refund %+v, balance %s", back, f.balance())
	}
	_, err = f.acts.DebitWallet(ctx, steps.DebitWalletInput{InvoiceID: "inv_missing", Attempt: 1})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrLedgerNotFound {
		t.Fatalf("missing invoice: %v", err)
	}
	_, err = f.acts.ChargeWalletLoad(ctx, c.WalletLoadInput{LoadID: "lod_missing"})
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("missing load: %v", err)
	}
	noProvider := &activities.Activities{Pool: f.pool}
	_, err = noProvider.ChargeWalletLoad(ctx, c.WalletLoadInput{LoadID: f.load.ID})
	if !errors.As(err, &appErr) || appErr.Type() != c.ErrProviderMisconfig {
		t.Fatalf("nil provider: %v", err)
	}
}

// TestWalletLoadFailureIsReadable: a load whose charge the provider refused for good shows
// the provider's words in error_message, not the workflow engine's wrapping of them.
func TestWalletLoadFailureIsReadable(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMBroken, "10.00")
	res, _ := f.run()
	if res.Status != ledger.LoadFailed {
		t.Fatalf("result %+v", res)
	}
	ld, err := f.l.GetLoad(context.Background(), f.wallet, f.load.ID)
	must(t, err)
	if ld.ErrorMessage == nil {
		t.Fatal("no error_message")
	}
	msg := *ld.ErrorMessage
	for _, internal := range []string{"activity error", "scheduledEventID", "ChargeWalletLoad", "retryable:", "(type:"} {
		if strings.Contains(msg, internal) {
			t.Fatalf("error_message shows workflow internals (%q): %s", internal, msg)
		}
	}
	if !strings.Contains(msg, "bad credentials") || !strings.Contains(msg, "nothing was charged") {
		t.Fatalf("error_message does not say what happened: %s", msg)
	}
}

// TestWalletLoadExpiredCardMarksMethodErrored: a load declined because the card expired (a
// hard decline) marks the payment method errored and emits payment_method.errored, as an
// invoice's charge does; a soft decline leaves the method active.
func TestWalletLoadExpiredCardMarksMethodErrored(t *testing.T) {
	f := newLoadFixture(t, ledgertest.PMExpired, "10.00")
	res, _ := f.run()
	if res.Status != ledger.LoadFailed || res.ErrorType != string(payments.ErrPaymentMethodExpired) {
		t.Fatalf("result %+v", res)
	}
	if f.count("payment_methods", "provider_id = $1 AND status = 'errored'", ledgertest.PMExpired) != 1 {
		t.Fatal("the expired card is still active")
	}
	if f.count("events", "type = 'payment_method.errored' AND data->>'error_type' = 'payment_method_expired' AND data->>'invoice_id' = $1", res.InvoiceID) != 1 {
		t.Fatal("no payment_method.errored event naming the load's invoice")
	}
	if f.count("invoice_transactions", "invoice_id = $1 AND status = 'failed' AND hard_decline", res.InvoiceID) != 1 {
		t.Fatal("the load's failed transaction is not recorded as a hard decline")
	}
	g := newLoadFixture(t, ledgertest.PMDecline, "10.00")
	if res, _ := g.run(); res.Status != ledger.LoadFailed {
		t.Fatalf("result %+v", res)
	}
	if g.count("payment_methods", "status = 'active'") != 1 || g.count("events", "type = 'payment_method.errored'") != 0 {
		t.Fatal("a soft decline marked the method errored")
	}
}

// loadSearchStatus reads the PaymentStatus search attribute of the load's workflow.
func (f *loadFixture) loadSearchStatus(run client.WorkflowRun) string {
	f.t.Helper()
	d, err := env.Temporal.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
	must(f.t, err)
	var status string
	if p := d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()[c.SearchPaymentStatus.GetName()]; p != nil {
		must(f.t, converter.GetDefaultDataConverter().FromPayload(p, &status))
	}
	return status
}

// TestWalletLoadSearchStatus: a wallet load's workflow ends with PaymentStatus set to the
// load's outcome (settled, failed, pending for a direct debit), and its history replays.
func TestWalletLoadSearchStatus(t *testing.T) {
	for pm, want := range map[string]string{ledgertest.PMSettle: ledger.LoadSettled, ledgertest.PMDecline: ledger.LoadFailed, ledgertest.PMPending: ledger.LoadPending} {
		f := newLoadFixture(t, pm, "10.00")
		res, run := f.run(func(o *client.StartWorkflowOptions) {
			o.TypedSearchAttributes = temporal.NewSearchAttributes(c.SearchPaymentStatus.ValueSet("pending"))
		})
		if res.Status != want {
			t.Fatalf("%s: result %+v, want %s", pm, res, want)
		}
		if got := f.loadSearchStatus(run); got != want {
			t.Fatalf("%s: PaymentStatus %q, want %q", pm, got, want)
		}
		f.replayAndRecord(run, "search_status_"+want)
	}
}
