package workflows

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"payorch/activities"
	c "payorch/contracts"
	"payorch/customers"
	"payorch/internal/testenv"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/payments"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{Temporal: true}) }

// schedule is the default retry schedule.
var schedule = []time.Duration{2 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// start is the test clock's start (the test environment starts its clock here).
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// fixture runs the InvoicePayment workflow in the SDK's time-skipping test environment
// with the real activities on a real PostgreSQL database and the real simulated provider.
type fixture struct {
	t      *testing.T
	pool   *pgxpool.Pool
	tenv   *testsuite.TestWorkflowEnvironment
	timers []time.Duration
	cust   customers.Customer
	sub    string
	inv    invoices.Invoice
	ledger *ledger.Ledger
	acts   *activities.Activities
	// started counts the activities started, by type; onStart runs at each start.
	mu      sync.Mutex
	started map[string]int
	onStart func(activityType string)
	// signalled lists the signals sent to other workflows ("<signal> <workflow id>").
	signalled []string
}

type setup struct {
	pm           string // provider id of the default payment method ("" = none)
	pmType       string // card (default) or direct_debit
	method       string // invoice payment method (default: from the customer's default)
	total        string
	wallet       string // wallet balance loaded for free before the invoice ("" = no wallet)
	subscription bool
	periodEnd    time.Duration // subscription period end after start (default 30 days)
}

func newFixture(t *testing.T, s setup) *fixture {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	f := &fixture{t: t, pool: pool, ledger: ledger.New(pool)}
	suite := &testsuite.WorkflowTestSuite{}
	f.tenv = suite.NewTestWorkflowEnvironment()
	f.tenv.SetStartTime(start)
	f.tenv.SetTestTimeout(60 * time.Second)
	now := func() time.Time {
		if f.tenv == nil {
			return start
		}
		return f.tenv.Now()
	}
	sim := payments.NewSimulated(pool, payments.SimulatedOptions{Now: now})
	f.acts = &activities.Activities{Pool: pool, Provider: sim, Now: now}
	f.ledger.Now = now
	f.tenv.RegisterWorkflow(InvoicePayment)
	f.tenv.RegisterActivityWithOptions(f.acts, activity.RegisterOptions{})
	f.tenv.SetOnTimerScheduledListener(func(_ string, d time.Duration) { f.timers = append(f.timers, d) })
	// Signals to other invoices' workflows (a payment that reactivates a subscription
	// resumes its held invoices) are recorded here; their receivers run elsewhere.
	f.tenv.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(func(_, workflowID, _, signal string, _ any) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.signalled = append(f.signalled, signal+" "+workflowID)
			return nil
		}).Maybe()
	f.started = map[string]int{}
	onStart := func(name string) {
		f.mu.Lock()
		f.started[name]++
		hook := f.onStart
		f.mu.Unlock()
		if hook != nil {
			hook(name)
		}
	}
	f.tenv.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		onStart(info.ActivityType.Name)
	})
	f.tenv.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		onStart(info.ActivityType.Name)
	})
	ctx := context.Background()

	cs := customers.NewService(pool)
	cs.Now = now
	cust, err := cs.Create(ctx, customers.CreateInput{Name: "Ada", Email: "ada@example.com", Currency: "EUR"})
	must(t, err)
	f.cust = cust
	if s.pm != "" {
		typ := s.pmType
		if typ == "" {
			typ = "card"
		}
		f.addPaymentMethod(typ, s.pm)
	}
	if s.wallet != "" {
		w, err := f.ledger.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust.ID})
		must(t, err)
		_, err = f.ledger.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: s.wallet, Type: "free"})
		must(t, err)
	}
	in := invoices.CreateInput{CustomerID: cust.ID}
	total := s.total
	if total == "" {
		total = "30.00"
	}
	in.Lines = []invoices.LineInput{{Description: "Pro plan", Amount: total}}
	if s.method != "" {
		in.PaymentMethod = &s.method
	}
	if s.subscription {
		end := s.periodEnd
		if end == 0 {
			end = 30 * 24 * time.Hour
		}
		f.sub = f.insertSubscription(cust.ID, start.Add(-24*time.Hour), start.Add(end))
		in.SubscriptionID = &f.sub
	}
	is := invoices.NewService(pool)
	is.Now = now
	inv, err := is.Create(ctx, in)
	must(t, err)
	f.inv = inv
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addPaymentMethod(typ, providerID string) string {
	cs := customers.NewService(f.pool)
	cs.Now = func() time.Time { return start }
	in := customers.PaymentMethodInput{Type: typ, ProviderID: &providerID, Default: ptr(true), Last4: ptr("4242")}
	if typ == "card" {
		in.ExpMonth, in.ExpYear = ptr(int32(12)), ptr(int32(start.Year()+3))
	} else {
		in.Last4 = nil
	}
	pm, err := cs.AddPaymentMethod(context.Background(), f.cust.ID, in)
	must(f.t, err)
	return pm.ID
}

func ptr[T any](v T) *T { return &v }

func (f *fixture) insertSubscription(customerID string, from, to time.Time) string {
	id := "sub_test_" + fmt.Sprint(time.Now().UnixNano())
	_, err := f.pool.Exec(context.Background(),
		`INSERT INTO subscriptions (id, customer_id, currency, amount, current_period_start, current_period_end) VALUES ($1, $2, 'EUR', 30, $3, $4)`,
		id, customerID, from, to)
	must(f.t, err)
	return id
}

func (f *fixture) input(method string) c.InvoicePaymentInput {
	m := f.inv.PaymentMethod
	if method != "" {
		m = method
	}
	return c.InvoicePaymentInput{InvoiceID: f.inv.ID, CustomerID: f.cust.ID, SubscriptionID: f.sub, Method: m, RetrySchedule: schedule}
}

// at runs fn after d of workflow time.
func (f *fixture) at(d time.Duration, fn func()) { f.tenv.RegisterDelayedCallback(fn, d) }

// state queries the workflow.
func (f *fixture) state() c.PaymentState {
	f.t.Helper()
	v, err := f.tenv.QueryWorkflow(c.QueryState)
	must(f.t, err)
	var st c.PaymentState
	must(f.t, v.Get(&st))
	return st
}

// update sends an Update and records its outcome.
type updateResult struct {
	accepted bool
	rejected error
	outcome  c.UpdateOutcome
	err      error
	done     bool
}

func (f *fixture) update(name string, arg any) *updateResult {
	r := &updateResult{}
	f.tenv.UpdateWorkflow(name, fmt.Sprint(name, len(f.timers), time.Now().UnixNano()), &testsuite.TestUpdateCallback{
		OnAccept: func() { r.accepted = true },
		OnReject: func(err error) { r.rejected = err; r.done = true },
		OnComplete: func(v interface{}, err error) {
			r.done, r.err = true, err
			if o, ok := v.(c.UpdateOutcome); ok {
				r.outcome = o
			}
		},
	}, arg)
	return r
}

// end cancels the workflow (it waits forever once errored) after d.
func (f *fixture) endAt(d time.Duration) { f.at(d, func() { f.tenv.CancelWorkflow() }) }

func (f *fixture) invoice() invoices.Invoice {
	f.t.Helper()
	inv, err := invoices.NewService(f.pool).Get(context.Background(), f.inv.ID)
	must(f.t, err)
	return inv
}

// events returns the outbox event types written, in order.
func (f *fixture) events() []string {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT type FROM events WHERE type NOT LIKE 'wallet.%' ORDER BY seq`)
	must(f.t, err)
	var out []string
	for rows.Next() {
		var s string
		must(f.t, rows.Scan(&s))
		out = append(out, s)
	}
	return out
}

func (f *fixture) subscriptionStatus() string {
	var s string
	must(f.t, f.pool.QueryRow(context.Background(), `SELECT status FROM subscriptions WHERE id = $1`, f.sub).Scan(&s))
	return s
}

// starts returns how many times an activity type was started.
func (f *fixture) starts(activityType string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started[activityType]
}

// simCharges counts the simulated provider's charges (one per idempotency key).
func (f *fixture) simCharges() int {
	var n int
	must(f.t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM sim_charges`).Scan(&n))
	return n
}

func (f *fixture) txnSummary() []string {
	var out []string
	for _, t := range f.invoice().Transactions {
		s := t.Method + ":" + t.Status
		if t.ErrorType != nil {
			s += ":" + *t.ErrorType
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) expect(name string, got, want any) {
	f.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		f.t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func (f *fixture) retryTimers() []time.Duration {
	// Only the retry waits (hard-decline deadlines and test callbacks are other timers).
	var out []time.Duration
	for _, d := range f.timers {
		if slices.Contains(schedule, d) {
			out = append(out, d)
		}
	}
	return out
}

func TestSuccessFirstTry(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa"})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	var res c.InvoicePaymentResult
	must(t, f.tenv.GetWorkflowResult(&res))
	f.expect("result", res.Status, "paid")
	f.expect("transactions", f.txnSummary(), []string{"card:settled"})
	f.expect("invoice status", f.invoice().Status, "paid")
	f.expect("amount_paid", f.invoice().AmountPaid, "30.00")
	f.expect("timers", f.timers, []time.Duration(nil))
	f.expect("events", f.events(), []string{"invoice.settled"})
	f.expect("sim charges", f.simCharges(), 1)
}

func TestWalletCoversAll(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa", wallet: "100.00"})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("transactions", f.txnSummary(), []string{"wallet:settled"})
	f.expect("invoice status", f.invoice().Status, "paid")
	f.expect("sim charges", f.simCharges(), 0)
	var bal string
	must(t, f.pool.QueryRow(context.Background(), `SELECT balance::text FROM wallets WHERE customer_id = $1`, f.cust.ID).Scan(&bal))
	f.expect("wallet balance", bal[:5], "70.00")
}

func TestWalletPlusCard(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_visa", wallet: "10.00"})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	inv := f.invoice()
	f.expect("transactions", f.txnSummary(), []string{"wallet:settled", "card:settled"})
	f.expect("wallet part", inv.Transactions[0].Amount, "10.00")
	f.expect("card part", inv.Transactions[1].Amount, "20.00")
	f.expect("status", inv.Status, "paid")
}

func TestFailsThenSucceedsOnAttempt3(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail2_then_settle"})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("retry timers", f.retryTimers(), []time.Duration{2 * time.Hour, 12 * time.Hour})
	f.expect("transactions", f.txnSummary(), []string{"card:failed:processing_error", "card:failed:processing_error", "card:settled"})
	f.expect("status", f.invoice().Status, "paid")
	f.expect("attempt_count", f.invoice().AttemptCount, 3)
	f.expect("events", f.events(), []string{"invoice.transaction_failed", "invoice.transaction_failed", "invoice.settled"})
	f.expect("sim charges", f.simCharges(), 3)
}

func TestAllFailErrorsInvoiceAndSubscription(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_chargeDeclinedInsufficientFunds", subscription: true})
	var mid c.PaymentState
	f.at(3*time.Hour, func() { mid = f.state() })
	f.endAt(100 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("retry timers", f.retryTimers(), []time.Duration{2 * time.Hour, 12 * time.Hour, 24 * time.Hour})
	f.expect("transactions", f.txnSummary(), []string{
		"card:failed:payment_method_declined", "card:failed:payment_method_declined",
		"card:failed:payment_method_declined", "card:failed:payment_method_declined"})
	f.expect("invoice status", f.invoice().Status, "error")
	f.expect("subscription", f.subscriptionStatus(), "errored")
	f.expect("events", f.events(), []string{
		"invoice.transaction_failed", "email.payment_failed", "invoice.transaction_failed", "email.payment_failed",
		"invoice.transaction_failed", "email.payment_failed", "invoice.transaction_failed", "email.payment_failed",
		"invoice.errored", "subscription.errored"})
	f.expect("mid-way status", mid.PaymentStatus, c.PaymentRetryScheduled)
	if mid.NextRetryAt == nil || !mid.NextRetryAt.Equal(start.Add(2*time.Hour+12*time.Hour)) {
		t.Errorf("next retry after attempt 2 = %v, want %v", mid.NextRetryAt, start.Add(14*time.Hour))
	}
	f.expect("payment status", f.state().PaymentStatus, c.PaymentErrored)
}

func TestManualRetryAfterErrorActivatesSubscription(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail4_then_settle", subscription: true})
	var r *updateResult
	f.at(40*time.Hour, func() {
		f.expect("before retry", f.state().PaymentStatus, c.PaymentErrored)
		r = f.update(c.UpdateRetry, c.RetryRequest{RequestedBy: "support"})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	if r == nil || !r.done || r.err != nil || r.rejected != nil {
		t.Fatalf("retry update: %+v", r)
	}
	f.expect("retry outcome", r.outcome.InvoiceStatus, "paid")
	f.expect("retry transaction", r.outcome.Transaction.Status, "settled")
	f.expect("invoice", f.invoice().Status, "paid")
	f.expect("subscription", f.subscriptionStatus(), "active")
	ev := f.events()
	f.expect("last events", ev[len(ev)-2:], []string{"invoice.settled", "subscription.activated"})
}

func TestManualRetryAfterPeriodKeepsSubscriptionErrored(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail4_then_settle", subscription: true, periodEnd: 48 * time.Hour})
	var r *updateResult
	f.at(60*time.Hour, func() { r = f.update(c.UpdateRetry, c.RetryRequest{}) })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	if r == nil || r.err != nil || r.rejected != nil {
		t.Fatalf("retry update: %+v", r)
	}
	f.expect("invoice", f.invoice().Status, "paid")
	f.expect("subscription", f.subscriptionStatus(), "errored")
	f.expect("events", slices.Contains(f.events(), "subscription.activated"), false)
}

func TestRetryRejectedWhenPaid(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_settle", pmType: "direct_debit"})
	var inFlight, paid *updateResult
	f.at(time.Minute, func() { inFlight = f.update(c.UpdateRetry, c.RetryRequest{}) })
	f.at(2*time.Minute, func() { f.deliverSEPA("settled", "evt_1") })
	// The void arrives while the settled charge is being booked (the invoice is being
	// marked paid): it is accepted, queued, and must then be refused as paid — never void
	// a paid invoice.
	f.onStart = func(activityType string) {
		if activityType == "MarkInvoicePaid" && paid == nil {
			paid = f.update(c.UpdateVoid, c.VoidRequest{Reason: "too late"})
		}
	}
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	if inFlight == nil || inFlight.rejected == nil {
		t.Fatalf("retry during a pending charge must be rejected: %+v", inFlight)
	}
	f.expect("in-flight rejection", errType(inFlight.rejected), c.ErrChargeInFlight)
	if paid == nil || !paid.done {
		t.Fatalf("the void sent while the invoice was being marked paid got no answer: %+v", paid)
	}
	refusal := paid.rejected
	if refusal == nil {
		refusal = paid.err
	}
	if refusal == nil {
		t.Fatalf("void after payment must be refused: %+v", paid)
	}
	f.expect("void refusal", errType(refusal), c.ErrInvoicePaid)
	f.expect("invoice", f.invoice().Status, "paid")
	f.expect("void reason", f.invoice().VoidReason == nil, true)
}

func TestHardDeclineWaitsForNewCard(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_chargeDeclinedExpiredCard"})
	var waiting c.PaymentState
	f.at(time.Hour, func() { waiting = f.state() })
	f.at(5*time.Hour, func() {
		pm := f.addPaymentMethod("card", "pm_card_visa")
		f.tenv.SignalWorkflow(c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: pm})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("waiting status", waiting.PaymentStatus, c.PaymentAwaitingAction)
	f.expect("no blind retries", f.retryTimers(), []time.Duration(nil))
	f.expect("deadline timer", slices.Contains(f.timers, 38*time.Hour), true)
	f.expect("transactions", f.txnSummary(), []string{"card:failed:payment_method_expired", "card:settled"})
	f.expect("status", f.invoice().Status, "paid")
	f.expect("hard decline stored", f.invoice().Transactions[0].HardDecline, true)
	ev := f.events()
	f.expect("payment method errored", slices.Contains(ev, "payment_method.errored"), true)
	var pmStatus string
	must(t, f.pool.QueryRow(context.Background(), `SELECT status FROM payment_methods WHERE provider_id = 'pm_card_chargeDeclinedExpiredCard'`).Scan(&pmStatus))
	f.expect("expired card status", pmStatus, "errored")
	// The event carries the payment method as the API shows it, and why it errored.
	var pmEvent map[string]any
	must(t, f.pool.QueryRow(context.Background(), `SELECT data FROM events WHERE type = 'payment_method.errored'`).Scan(&pmEvent))
	for k, want := range map[string]any{"object": "payment_method", "status": "errored", "type": "card", "last4": "4242",
		"error_type": "payment_method_expired", "invoice_id": f.inv.ID, "default": true} {
		f.expect("payment_method.errored data."+k, pmEvent[k], want)
	}
}

func TestHardDeclineDeadlineErrors(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_authenticationRequired"})
	f.endAt(50 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("transactions", f.txnSummary(), []string{"card:failed:authentication_required"})
	f.expect("invoice", f.invoice().Status, "error")
	f.expect("deadline timer", slices.Contains(f.timers, 38*time.Hour), true)
}

func TestFraudIsNeverRetried(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_chargeDeclinedFraudulent", subscription: true})
	f.endAt(72 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	f.expect("transactions", f.txnSummary(), []string{"card:failed:fraud"})
	f.expect("retry timers", f.retryTimers(), []time.Duration(nil))
	f.expect("invoice", f.invoice().Status, "error")
	f.expect("subscription", f.subscriptionStatus(), "errored")
	// The email event may say it is a fraud case (the mailer picks the neutral template from
	// it) but must carry no reason: no error type, code, decline code or provider message.
	var txn map[string]any
	must(t, f.pool.QueryRow(context.Background(), `SELECT data->'transaction' FROM events WHERE type = 'email.payment_failed'`).Scan(&txn))
	if txn == nil || txn["status"] != "failed" {
		t.Fatalf("email.payment_failed transaction = %v", txn)
	}
	for _, k := range []string{"error_type", "decline_code", "provider_code", "provider_message"} {
		if v, ok := txn[k]; !ok || v != nil {
			t.Errorf("fraud email data reveals %s = %v", k, v)
		}
	}
}

func TestBankTransferReconciledPartiallyThenFully(t *testing.T) {
	f := newFixture(t, setup{method: "bank_transfer"})
	var first, second *updateResult
	var waiting c.PaymentState
	f.at(time.Hour, func() {
		waiting = f.state()
		first = f.update(c.UpdateReconcile, c.ReconcileRequest{Amount: "10.00", Reference: "TRX-1", PaidAt: start})
	})
	f.at(2*time.Hour, func() {
		f.expect("after partial", f.invoice().AmountDue, "20.00")
		second = f.update(c.UpdateReconcile, c.ReconcileRequest{Amount: "20.00", Reference: "TRX-2", PaidAt: start})
	})
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("waiting", waiting.PaymentStatus, c.PaymentAwaitingTransfer)
	if first == nil || first.err != nil || second == nil || second.err != nil {
		t.Fatalf("reconcile updates: %+v %+v", first, second)
	}
	f.expect("first outcome", first.outcome.InvoiceStatus, "to_pay")
	f.expect("second outcome", second.outcome.InvoiceStatus, "paid")
	f.expect("transactions", f.txnSummary(), []string{"bank_transfer:settled", "bank_transfer:settled"})
	f.expect("events", f.events(), []string{"email.bank_transfer_instructions", "invoice.settled"})
	f.expect("sim charges", f.simCharges(), 0)
}

func TestReconcileMoreThanDueIsRefused(t *testing.T) {
	f := newFixture(t, setup{method: "bank_transfer"})
	var r *updateResult
	f.at(time.Hour, func() {
		r = f.update(c.UpdateReconcile, c.ReconcileRequest{Amount: "31.00", Reference: "X", PaidAt: start})
	})
	f.endAt(2 * time.Hour)
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	if r == nil || r.err == nil {
		t.Fatalf("overpayment accepted: %+v", r)
	}
	f.expect("error type", errType(r.err), c.ErrAmountExceedsDue)
	f.expect("amount paid", f.invoice().AmountPaid, "0.00")
}

// deliverSEPA signals the provider event for the invoice's pending direct debit.
func (f *fixture) deliverSEPA(status, eventID string) {
	var ref string
	must(f.t, f.pool.QueryRow(context.Background(),
		`SELECT provider_reference FROM invoice_transactions WHERE invoice_id = $1 AND status = 'pending' AND provider_reference IS NOT NULL ORDER BY seq DESC LIMIT 1`, f.inv.ID).Scan(&ref))
	ev := c.ProviderEvent{EventID: eventID, Reference: ref, Status: status}
	if status == "failed" {
		ev.ErrorType, ev.DeclineCode = "payment_method_declined", "insufficient_funds"
	}
	f.tenv.SignalWorkflow(c.SignalProviderEvent, ev)
}

func TestSEPAPendingThenSettled(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_settle", pmType: "direct_debit"})
	var pending c.PaymentState
	f.at(time.Hour, func() { pending = f.state(); f.deliverSEPA("settled", "evt_sepa_1") })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("pending status", pending.PaymentStatus, c.PaymentProcessing)
	f.expect("transactions", f.txnSummary(), []string{"direct_debit:settled"})
	f.expect("invoice", f.invoice().Status, "paid")
}

func TestSEPAPendingThenFailedCountsAsAttempt(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_fail", pmType: "direct_debit"})
	var after c.PaymentState
	f.at(time.Hour, func() { f.deliverSEPA("failed", "evt_sepa_1") })
	f.at(90*time.Minute, func() { after = f.state() })
	f.at(2*time.Hour, func() { f.update(c.UpdateVoid, c.VoidRequest{}) })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("after failure", after.PaymentStatus, c.PaymentRetryScheduled)
	f.expect("failed attempts", after.FailedAttempts, 1)
	f.expect("retry timer", f.retryTimers(), []time.Duration{2 * time.Hour})
	f.expect("transactions", f.txnSummary()[0], "direct_debit:failed:payment_method_declined")
	f.expect("invoice", f.invoice().Status, "voided")
}

func TestVoidWhileWaitingGivesWalletBack(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_card_chargeDeclined", wallet: "10.00"})
	var r *updateResult
	f.at(time.Hour, func() { r = f.update(c.UpdateVoid, c.VoidRequest{Reason: "customer left"}) })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	var res c.InvoicePaymentResult
	must(t, f.tenv.GetWorkflowResult(&res))
	f.expect("result", res.Status, c.PaymentVoided)
	if r == nil || r.err != nil {
		t.Fatalf("void: %+v", r)
	}
	f.expect("invoice", f.invoice().Status, "voided")
	var bal string
	must(t, f.pool.QueryRow(context.Background(), `SELECT balance::text FROM wallets WHERE customer_id = $1`, f.cust.ID).Scan(&bal))
	f.expect("wallet balance back", bal[:5], "10.00")
	f.expect("no further attempts", f.simCharges(), 1)
	if vr := f.invoice().VoidReason; vr == nil || *vr != "customer left" {
		t.Errorf("void reason = %v, want the request's", vr)
	}
}

// TestDuplicateSignalsIgnored: a provider event delivered twice (webhooks are at least
// once) is applied once; so is a payment-method update signalled twice.
func TestDuplicateSignalsIgnored(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_sepa_settle", pmType: "direct_debit"})
	var afterDup c.PaymentState
	f.at(time.Hour, func() {
		f.deliverSEPA("failed", "evt_dup")
		f.deliverSEPA("failed", "evt_dup")
	})
	f.at(90*time.Minute, func() {
		afterDup = f.state()
		pm := f.addPaymentMethod("direct_debit", "pm_sim_sepa_settle")
		f.tenv.SignalWorkflow(c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: pm})
		f.tenv.SignalWorkflow(c.SignalPaymentMethodUpdated, c.PaymentMethodUpdated{PaymentMethodID: pm})
	})
	f.at(3*time.Hour, func() { f.deliverSEPA("settled", "evt_2") })
	f.tenv.ExecuteWorkflow(InvoicePayment, f.input(""))
	must(t, f.tenv.GetWorkflowError())
	f.expect("provider events applied", f.starts("ApplyProviderEvent"), 2)
	f.expect("failed attempts after the duplicate", afterDup.FailedAttempts, 1)
	f.expect("seen events", afterDup.SeenEvents, []string{"evt_dup"})
	f.expect("charges sent", f.starts("ChargeAttempt"), 2)
	f.expect("transactions", f.txnSummary(), []string{"direct_debit:failed:payment_method_declined", "direct_debit:settled"})
	f.expect("invoice", f.invoice().Status, "paid")
}

func errType(err error) string {
	type typed interface{ Type() string }
	for e := err; e != nil; {
		if t, ok := e.(typed); ok {
			return t.Type()
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return fmt.Sprintf("%T: %v", err, err)
}
