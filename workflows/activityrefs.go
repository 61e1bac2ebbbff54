package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/steps"
)

// acts lists the activities the workflows run, typed: each method is a
// reference to the method of the same name on activities.Activities, which the worker
// registers (this package may not import it: it does I/O). Temporal runs the registered
// method; these bodies never run on a worker that registered them.
// TestActivityRefsMatchTheWorker proves every signature here is the worker's.
type acts struct{}

// a is how the workflows name an activity (a nil pointer, as only its methods matter):
// a.StartAttempt, a.ChargeAttempt, …
var a *acts

func notRegistered(name string) error {
	return temporal.NewNonRetryableApplicationError("activity "+name+" is not registered on this worker", c.ErrMisconfigured, nil)
}

// StartAttempt: the wallet, then what follows from it, in one transaction (local).
func (*acts) StartAttempt(context.Context, steps.StartAttemptInput) (steps.AttemptStart, error) {
	return steps.AttemptStart{}, notRegistered("StartAttempt")
}

// ChargeAttempt: the provider call of a prepared charge, and its outcome recorded.
func (*acts) ChargeAttempt(context.Context, steps.ChargeRef) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("ChargeAttempt")
}

// LoadInvoice reads the invoice's payment snapshot.
func (*acts) LoadInvoice(context.Context, steps.InvoiceRef) (steps.InvoiceSnapshot, error) {
	return steps.InvoiceSnapshot{}, notRegistered("LoadInvoice")
}

// DebitWallet takes what the wallet can pay for an attempt (shape v2).
func (*acts) DebitWallet(context.Context, steps.DebitWalletInput) (steps.WalletDebit, error) {
	return steps.WalletDebit{}, notRegistered("DebitWallet")
}

// PrepareCharge creates the pending transaction of a charge (shape v2).
func (*acts) PrepareCharge(context.Context, steps.ChargeRef) (steps.PreparedCharge, error) {
	return steps.PreparedCharge{}, notRegistered("PrepareCharge")
}

// SendCharge sends a prepared charge and records the answer (shape v2).
func (*acts) SendCharge(context.Context, steps.ChargeRef) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("SendCharge")
}

// RecordProviderOutage fails a charge the provider never answered with provider_error.
func (*acts) RecordProviderOutage(context.Context, steps.ChargeRef) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("RecordProviderOutage")
}

// RecordProviderFailure fails a charge the provider refused for good with provider_error.
func (*acts) RecordProviderFailure(context.Context, steps.ProviderFailureInput) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("RecordProviderFailure")
}

// ApplyProviderEvent applies an asynchronous provider outcome.
func (*acts) ApplyProviderEvent(context.Context, steps.ProviderEventInput) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("ApplyProviderEvent")
}

// MarkInvoicePaid marks the invoice paid (and reactivates its subscription).
func (*acts) MarkInvoicePaid(context.Context, steps.InvoiceRef) (steps.ClosingResult, error) {
	return steps.ClosingResult{}, notRegistered("MarkInvoicePaid")
}

// MarkInvoiceErrored marks the invoice error and its subscription errored.
func (*acts) MarkInvoiceErrored(context.Context, steps.InvoiceRef) (steps.ClosingResult, error) {
	return steps.ClosingResult{}, notRegistered("MarkInvoiceErrored")
}

// ReconcileInvoice records a payment received outside the provider.
func (*acts) ReconcileInvoice(context.Context, steps.ReconcileInput) (steps.ChargeOutcome, error) {
	return steps.ChargeOutcome{}, notRegistered("ReconcileInvoice")
}

// VoidInvoice closes the invoice as voided.
func (*acts) VoidInvoice(context.Context, steps.VoidInput) (steps.ClosingResult, error) {
	return steps.ClosingResult{}, notRegistered("VoidInvoice")
}

// RefundWalletDebits gives a voided invoice's wallet debits back.
func (*acts) RefundWalletDebits(context.Context, steps.InvoiceRef) (steps.WalletRefund, error) {
	return steps.WalletRefund{}, notRegistered("RefundWalletDebits")
}

// SetInvoiceSchedule records the attempt count and next retry on the invoice.
func (*acts) SetInvoiceSchedule(context.Context, steps.ScheduleInput) error {
	return notRegistered("SetInvoiceSchedule")
}

// QueueBankTransferEmail queues the bank-transfer instructions (shape v2).
func (*acts) QueueBankTransferEmail(context.Context, steps.InvoiceRef) (bool, error) {
	return false, notRegistered("QueueBankTransferEmail")
}

// RequestMonthlyTopUp makes a wallet's monthly auto load, once per month.
func (*acts) RequestMonthlyTopUp(context.Context, steps.MonthlyTopUpInput) (steps.MonthlyTopUp, error) {
	return steps.MonthlyTopUp{}, notRegistered("RequestMonthlyTopUp")
}

// ExpireCredit debits what is left of an expiring credit, once.
func (*acts) ExpireCredit(context.Context, c.ExpireCreditInput) (c.CreditExpiryResult, error) {
	return c.CreditExpiryResult{}, notRegistered("ExpireCredit")
}

// PrepareWalletLoad creates a paid load's one-off invoice (once) and returns the load.
func (*acts) PrepareWalletLoad(context.Context, c.WalletLoadInput) (c.WalletLoadResult, error) {
	return c.WalletLoadResult{}, notRegistered("PrepareWalletLoad")
}

// ChargeWalletLoad charges a prepared load with the key <load_id>:charge.
func (*acts) ChargeWalletLoad(context.Context, c.WalletLoadInput) (steps.LoadCharge, error) {
	return steps.LoadCharge{}, notRegistered("ChargeWalletLoad")
}

// CompleteWalletLoad records a load's charge outcome, at most once.
func (*acts) CompleteWalletLoad(context.Context, steps.CompleteWalletLoadInput) (c.WalletLoadResult, error) {
	return c.WalletLoadResult{}, notRegistered("CompleteWalletLoad")
}

// Activity options. Database steps retry infrastructure failures (the database
// unreachable, a lock or statement timeout) with backoff, a bounded number of times: a
// failure no retry can heal (invalid data, a violated constraint, a misconfiguration) is
// non-retryable at its source (activities.bridge), and a step that still fails parks the
// workflow in awaiting_action for an operator instead of retrying for ever. The charge
// retries infrastructure failures with backoff for at most an hour — well inside the
// ~24 h for which Stripe keeps an idempotency key — and never retries a decline (a
// decline is a result, not an error).
var (
	dbRetry = &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
		NonRetryableErrorTypes: []string{c.ErrInvoiceNotFound, c.ErrAmountExceedsDue, c.ErrInvoicePaid,
			c.ErrInvoiceVoided, c.ErrInvalidReconcile, c.ErrInvalidData, c.ErrMisconfigured},
	}
	// dbActivity: a database step as a regular activity (histories of shape v2).
	dbActivity = workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 10 * time.Minute, RetryPolicy: dbRetry}
	// dbLocal: a database step as a local activity — short and idempotent, it runs in the
	// workflow's own task (a marker in the history) instead of a round trip through the
	// server's task queue.
	dbLocal        = workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: dbRetry}
	chargeActivity = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{c.ErrInvoiceNotFound, c.ErrProviderMisconfig, c.ErrAmountExceedsDue,
				c.ErrInvalidData, c.ErrMisconfigured},
		},
	}
)

// dbStep runs a database step: a local activity in the current shape, a regular one when
// the history is of shape v2 (p.shape).
func dbStep[In, Out any](ctx workflow.Context, p *payment, fn func(context.Context, In) (Out, error), summary string, in In) (Out, error) {
	var out Out
	err := dbFuture(ctx, p, fn, summary, in).Get(ctx, &out)
	return out, err
}

// dbStepNoResult is dbStep for a step that returns nothing.
func dbStepNoResult[In any](ctx workflow.Context, p *payment, fn func(context.Context, In) error, summary string, in In) error {
	return dbFuture(ctx, p, fn, summary, in).Get(ctx, nil)
}

func dbFuture(ctx workflow.Context, p *payment, fn any, summary string, in any) workflow.Future {
	if p.lean(ctx) {
		opts := dbLocal
		opts.Summary = summary
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), fn, in)
	}
	opts := dbActivity
	opts.Summary = summary
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), fn, in)
}

// chargeStep runs a provider call (a regular activity: it may take long and is retried
// for an hour).
func chargeStep[In any](ctx workflow.Context, fn func(context.Context, In) (steps.ChargeOutcome, error), summary string, in In) (steps.ChargeOutcome, error) {
	opts := chargeActivity
	opts.Summary = summary
	var out steps.ChargeOutcome
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), fn, in).Get(ctx, &out)
	return out, err
}
