package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/declines"
)

// Changes to the released InvoicePayment workflow, each a workflow.GetVersion change id.
// Add one for every change to the commands the workflow schedules (an activity added,
// removed, renamed or reordered, a timer, a child, a marker); never remove one while a
// history that lacks it may still be open.
const (
	// changeExactlyOnce: the decline policy, bounded database steps, parked steps, holds
	// for errored subscriptions and missing methods, bounded provider failures (issue
	// 10). Histories without its marker run invoicePaymentV1 (invoicepayment_v1.go).
	changeExactlyOnce = "exactly-once-at-the-edges"
)

// errProviderError is the provider_error type as a string (the wallet-load workflow reads it).
const errProviderError = string(declines.ProviderError)

// pendingLimit is how long a pending charge (a SEPA direct debit takes up to 14 business
// days) may wait for the provider's outcome, or until the schedule's deadline if later,
// before the workflow asks a person to look (awaiting_action, provider_outcome_overdue).
var pendingLimit = 20 * 24 * time.Hour

// maxSeenEvents bounds the list of provider event ids kept to ignore duplicates.
const maxSeenEvents = 50

// stepResumeDelay is how long after a step ran out of retries on an infrastructure
// failure (the database unreachable) it runs again by itself; it doubles each time, at most
// maxStepResumes times, then an operator's retry is needed.
var (
	stepResumeDelay = 15 * time.Minute
	maxStepResumes  = 4
)

// historyLimit continues the workflow as new before its history gets long, even if the
// server has not suggested it yet (a variable so a test can lower it).
var historyLimit = 8000

// Activity options. Database activities retry infrastructure failures (the database
// unreachable, a lock or statement timeout) with backoff, a bounded number of times: a
// failure no retry can heal (invalid data, a violated constraint, a misconfiguration) is
// non-retryable at its source (activities.bridge), and a step that still fails parks the
// workflow in awaiting_action for an operator instead of retrying for ever. The charge
// retries infrastructure failures with backoff for at most an hour — well inside the
// ~24 h for which Stripe keeps an idempotency key — and never retries a decline (a
// decline is a result, not an error).
var (
	dbActivity = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10,
			NonRetryableErrorTypes: []string{c.ErrInvoiceNotFound, c.ErrAmountExceedsDue, c.ErrInvoicePaid,
				c.ErrInvoiceVoided, c.ErrInvalidReconcile, c.ErrInvalidData, c.ErrMisconfigured},
		},
	}
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

// command is a request from an Update, executed by the main loop in arrival order.
type command struct {
	id        string
	kind      string
	reconcile c.ReconcileRequest
	void      c.VoidRequest
}

// commandResult is what an Update handler returns.
type commandResult struct {
	outcome c.UpdateOutcome
	err     error
}

// payment is the workflow's in-memory state.
type payment struct {
	in       c.InvoicePaymentInput
	s        c.PaymentState
	commands []command
	results  map[string]commandResult
	// running is true while an attempt decides its charge (wallet, charge) or a command
	// or provider event is applied; a manual retry is refused meanwhile.
	running bool
	// resume is the step to run again when a step parked on an infrastructure failure
	// (its retries ran out) resumes by itself at ResumeStepAt (nil: an operator's retry).
	resume     func() error
	resumeWhat string
}

// InvoicePayment collects one invoice: the wallet first, then the default payment method,
// retried on the schedule fixed at start, with the error states, manual retry,
// reconciliation and void of DESIGN.md "Invoice payment". It ends when the invoice is
// paid or voided.
//
// Running payments outlive deploys (an errored invoice may wait for months), so every
// change to the commands this workflow schedules goes behind workflow.GetVersion; the
// recorded histories of every released shape (testdata/<shape>/) replay in a test.
func InvoicePayment(ctx workflow.Context, in c.InvoicePaymentInput) (c.InvoicePaymentResult, error) {
	if workflow.GetVersion(ctx, changeExactlyOnce, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		// A payment started before the change: it goes on as the first released shape
		// until it ends or continues as new (the next run takes this path's state).
		return invoicePaymentV1(ctx, in)
	}
	p := &payment{in: in, results: map[string]commandResult{}}
	if in.Carry != nil {
		p.s = *in.Carry
	} else {
		p.s = c.PaymentState{InvoiceID: in.InvoiceID, PaymentStatus: c.PaymentCollecting,
			MaxAttempts: len(in.RetrySchedule) + 1, Transactions: []c.TransactionView{}}
	}
	if err := p.register(ctx); err != nil {
		return c.InvoicePaymentResult{}, err
	}
	return p.run(ctx)
}

func (p *payment) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, c.QueryState, func() (c.PaymentState, error) { return p.s, nil }); err != nil {
		return err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, c.SignalPaymentMethodUpdated)
		for {
			var sig c.PaymentMethodUpdated
			ch.Receive(ctx, &sig)
			if sig.PaymentMethodID == "" || sig.PaymentMethodID == p.s.LastPaymentMethodID {
				continue // duplicate
			}
			p.s.LastPaymentMethodID = sig.PaymentMethodID
			p.s.PendingPaymentMethod = true
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, c.SignalProviderEvent)
		for {
			var ev c.ProviderEvent
			ch.Receive(ctx, &ev)
			if p.seen(ev.EventID) {
				continue // duplicate
			}
			p.s.SeenEvents = append(p.s.SeenEvents, ev.EventID)
			if len(p.s.SeenEvents) > maxSeenEvents {
				p.s.SeenEvents = p.s.SeenEvents[len(p.s.SeenEvents)-maxSeenEvents:]
			}
			p.s.PendingEvents = append(p.s.PendingEvents, ev)
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, c.SignalSubscriptionReactivated)
		for {
			var sig c.SubscriptionReactivated
			ch.Receive(ctx, &sig)
			// Kept even when not held yet: an attempt under way may still hold on what it
			// read before the reactivation; the main loop then tries again.
			p.s.ResumeRequested = true
		}
	})
	if err := workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateRetry,
		func(ctx workflow.Context, _ c.RetryRequest) (c.UpdateOutcome, error) {
			return p.enqueue(ctx, command{kind: c.UpdateRetry})
		}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, _ c.RetryRequest) error {
			if err := p.rejectClosed(); err != nil {
				return err
			}
			if p.in.Method == "bank_transfer" {
				return temporal.NewApplicationError("a bank-transfer invoice is not charged automatically; reconcile it", "not_retryable")
			}
			return p.rejectInFlight()
		}}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateReconcile,
		func(ctx workflow.Context, req c.ReconcileRequest) (c.UpdateOutcome, error) {
			return p.enqueue(ctx, command{kind: c.UpdateReconcile, reconcile: req})
		}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, req c.ReconcileRequest) error {
			if err := p.rejectClosed(); err != nil {
				return err
			}
			if req.Amount == "" || req.PaidAt.IsZero() {
				return temporal.NewApplicationError("amount and paid_at are required", c.ErrInvalidReconcile)
			}
			return p.rejectPendingCharge()
		}}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateVoid,
		func(ctx workflow.Context, req c.VoidRequest) (c.UpdateOutcome, error) {
			return p.enqueue(ctx, command{kind: c.UpdateVoid, void: req})
		}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, _ c.VoidRequest) error {
			if err := p.rejectClosed(); err != nil {
				return err
			}
			return p.rejectPendingCharge()
		}})
}

func (p *payment) seen(id string) bool {
	for _, s := range p.s.SeenEvents {
		if s == id {
			return true
		}
	}
	return false
}

func (p *payment) rejectClosed() error {
	switch p.s.PaymentStatus {
	case c.PaymentPaid:
		return temporal.NewApplicationError("the invoice is paid", c.ErrInvoicePaid)
	case c.PaymentVoided:
		return temporal.NewApplicationError("the invoice is voided", c.ErrInvoiceVoided)
	}
	return nil
}

// rejectInFlight refuses a manual retry while an attempt runs, a charge awaits the
// provider's outcome, or another request is queued: the retry would race them. A
// workflow parked on a failed step takes the operator's retry in any case (it resumes
// the step; it does not send a second charge while one is pending).
func (p *payment) rejectInFlight() error {
	if p.running || len(p.commands) > 0 {
		return temporal.NewApplicationError("a charge or another request is in flight for this invoice; retry when it has finished", c.ErrChargeInFlight)
	}
	if p.s.Hold == c.HoldStepFailed {
		return nil
	}
	return p.rejectPendingCharge()
}

// rejectPendingCharge refuses a reconciliation or a void while a charge awaits the
// provider's outcome (a direct debit): it may still settle. Otherwise the request is
// queued and runs after the step under way, which then decides (e.g. paid meanwhile).
func (p *payment) rejectPendingCharge() error {
	if p.s.InFlight != "" {
		return temporal.NewApplicationError("a charge awaits the provider's outcome for this invoice; try again when it is known", c.ErrChargeInFlight)
	}
	return nil
}

// enqueue hands a command to the main loop and waits for its result.
func (p *payment) enqueue(ctx workflow.Context, cmd command) (c.UpdateOutcome, error) {
	cmd.id = workflow.GetCurrentUpdateInfo(ctx).ID
	p.commands = append(p.commands, cmd)
	if err := workflow.Await(ctx, func() bool { _, ok := p.results[cmd.id]; return ok }); err != nil {
		return c.UpdateOutcome{}, err
	}
	r := p.results[cmd.id]
	delete(p.results, cmd.id)
	return r.outcome, r.err
}

func (p *payment) run(ctx workflow.Context) (c.InvoicePaymentResult, error) {
	logger := workflow.GetLogger(ctx)
	if p.in.Carry == nil {
		snap, err := p.load(ctx)
		switch {
		case err != nil:
			if err := p.park(ctx, "load the invoice", err); err != nil {
				return c.InvoicePaymentResult{}, err
			}
		case snap.Status == "paid":
			p.setStatus(ctx, c.PaymentPaid, "already paid")
			return p.finish(ctx)
		case snap.Status == "voided":
			p.setStatus(ctx, c.PaymentVoided, "already voided")
			return p.finish(ctx)
		default:
			if err := p.step(ctx, "the first attempt", func() error { return p.attempt(ctx, false) }); err != nil {
				return c.InvoicePaymentResult{}, err
			}
		}
	}
	for {
		switch p.s.PaymentStatus {
		case c.PaymentPaid, c.PaymentVoided:
			return p.finish(ctx)
		}
		if err := p.wait(ctx); err != nil {
			return c.InvoicePaymentResult{}, err
		}
		if len(p.commands) > 0 {
			cmd := p.commands[0]
			p.commands = p.commands[1:]
			out, err := p.execute(ctx, cmd)
			if temporal.IsCanceledError(err) {
				return c.InvoicePaymentResult{}, err
			}
			p.results[cmd.id] = commandResult{outcome: out, err: err}
			continue
		}
		if len(p.s.PendingEvents) > 0 && p.s.Hold != c.HoldStepFailed {
			ev := p.s.PendingEvents[0]
			p.s.PendingEvents = p.s.PendingEvents[1:]
			if err := p.applyEvent(ctx, ev); err != nil {
				// Keep the event: resuming (by itself or by an operator's retry) applies it again.
				p.s.PendingEvents = append([]c.ProviderEvent{ev}, p.s.PendingEvents...)
				if err := p.parkFor(ctx, "apply provider event "+ev.EventID, err, func() error { return nil }); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
			continue
		}
		if p.s.PendingPaymentMethod {
			p.s.PendingPaymentMethod = false
			if p.s.InFlight != "" {
				continue // a charge is pending: its outcome decides; the new method serves the next attempt
			}
			switch p.s.PaymentStatus {
			case c.PaymentRetryScheduled, c.PaymentAwaitingAction, c.PaymentErrored:
				logger.Info("new payment method: charging at once", "payment_method_id", p.s.LastPaymentMethodID)
				if err := p.step(ctx, "the charge on the new payment method", func() error { return p.attempt(ctx, false) }); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
			continue
		}
		if p.s.ResumeRequested {
			p.s.ResumeRequested = false
			if p.s.Hold == c.HoldSubscriptionErrored {
				logger.Info("subscription reactivated: collecting again")
				if err := p.step(ctx, "the attempt after the subscription's reactivation", func() error { return p.attempt(ctx, false) }); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
			continue
		}
		now := workflow.Now(ctx)
		if p.s.Hold == c.HoldStepFailed && p.s.ResumeStepAt != nil && !now.Before(*p.s.ResumeStepAt) {
			if err := p.resumeStep(ctx); err != nil {
				return c.InvoicePaymentResult{}, err
			}
			continue
		}
		switch p.s.PaymentStatus {
		case c.PaymentProcessing:
			if p.s.InFlightSince != nil && !now.Before(*p.overdueAt()) {
				p.s.Hold = c.HoldProviderOutcomeOverdue
				p.s.HoldReason = fmt.Sprintf("the provider has not reported the outcome of charge %s since %s: check it at the provider (a late event is still applied)",
					p.s.InFlight, p.s.InFlightSince.UTC().Format(time.RFC3339))
				p.setStatus(ctx, c.PaymentAwaitingAction, "a person: "+p.s.HoldReason)
			}
		case c.PaymentRetryScheduled:
			if p.s.NextRetryAt != nil && !now.Before(*p.s.NextRetryAt) {
				if err := p.step(ctx, fmt.Sprintf("retry %d", p.s.FailedAttempts+1), func() error { return p.attempt(ctx, false) }); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
		case c.PaymentAwaitingAction:
			if p.deadlineApplies() && p.s.Deadline != nil && !now.Before(*p.s.Deadline) {
				why := "no new payment method before the retry deadline"
				if p.s.Hold == c.HoldPaymentMethodMissing {
					why = "no payment method to charge before the retry deadline"
				}
				if err := p.step(ctx, "mark the invoice errored", func() error { return p.errored(ctx, why) }); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
		}
		if p.shouldContinueAsNew(ctx) {
			// Let running Update handlers finish first; a queued command is run before.
			if err := workflow.Await(ctx, func() bool { return len(p.commands) > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
				return c.InvoicePaymentResult{}, err
			}
			if len(p.commands) == 0 && (len(p.s.PendingEvents) == 0 || p.s.Hold == c.HoldStepFailed) && !p.s.PendingPaymentMethod && !p.s.ResumeRequested {
				next := p.in
				carry := p.s
				next.Carry = &carry
				return c.InvoicePaymentResult{}, workflow.NewContinueAsNewError(ctx, InvoicePayment, next)
			}
		}
	}
}

// overdueAt is when a pending charge's missing outcome needs a person: pendingLimit after
// the charge, or the schedule's deadline if later.
func (p *payment) overdueAt() *time.Time {
	at := p.s.InFlightSince.Add(pendingLimit)
	if p.s.Deadline != nil && p.s.Deadline.After(at) {
		at = *p.s.Deadline
	}
	return &at
}

// deadlineApplies reports whether the schedule's deadline ends the current wait in
// awaiting_action (a hard decline, or no payment method): the customer had the whole
// schedule to act. A hold that waits for the merchant or an operator (an errored
// subscription, a provider failure, a failed step) has no deadline.
func (p *payment) deadlineApplies() bool {
	return p.s.Hold == "" || p.s.Hold == c.HoldPaymentMethodMissing
}

// step runs one step of the main loop. A failure that is not a cancellation parks the
// workflow (see parkFor) instead of failing it.
func (p *payment) step(ctx workflow.Context, what string, fn func() error) error {
	err := fn()
	if err == nil {
		return nil
	}
	return p.parkFor(ctx, what, err, fn)
}

// parkFor parks (see park); when the failure may heal by itself (an infrastructure error
// whose retries ran out, not a non-retryable one), the step runs again at ResumeStepAt,
// with a doubling delay, at most maxStepResumes times.
func (p *payment) parkFor(ctx workflow.Context, what string, err error, fn func() error) error {
	if perr := p.park(ctx, what, err); perr != nil {
		return perr
	}
	var appErr *temporal.ApplicationError
	if (errors.As(err, &appErr) && appErr.NonRetryable()) || p.s.StepResumes >= maxStepResumes {
		return nil
	}
	at := workflow.Now(ctx).Add(stepResumeDelay << p.s.StepResumes)
	p.s.ResumeStepAt = &at
	p.resume, p.resumeWhat = fn, what
	p.s.HoldReason += fmt.Sprintf("; it runs again by itself at %s", at.UTC().Format(time.RFC3339))
	p.setStatus(ctx, c.PaymentAwaitingAction, "an operator's retry: "+p.s.HoldReason)
	return nil
}

// resumeStep runs a parked step again by itself (see parkFor).
func (p *payment) resumeStep(ctx workflow.Context) error {
	fn, what := p.resume, p.resumeWhat
	p.resume, p.resumeWhat = nil, ""
	p.s.ResumeStepAt = nil
	if fn == nil {
		return nil // lost with a continue-as-new: an operator's retry resumes it
	}
	p.s.StepResumes++
	p.clearHold()
	if p.s.InFlight != "" || len(p.s.PendingEvents) > 0 {
		// A charge is pending, or its outcome is queued: that decides what comes next;
		// never a second charge meanwhile.
		p.setStatus(ctx, c.PaymentProcessing, "the provider's outcome of the pending charge")
		return nil
	}
	if err := p.step(ctx, what, fn); err != nil {
		return err
	}
	if p.s.Hold != c.HoldStepFailed {
		p.s.StepResumes = 0 // healed: the next outage gets the whole budget again
	}
	return nil
}

// park stops automatic collection after a step failed for good (an activity's
// non-retryable error, or its bounded retries ran out): the workflow neither dies nor
// spins; it waits in awaiting_action with the reason (query, current details, search
// attribute) for an operator's manual retry, which runs the step again. Updates
// (reconcile, void) still work meanwhile. A cancellation is returned as it is.
func (p *payment) park(ctx workflow.Context, what string, err error) error {
	if temporal.IsCanceledError(err) || ctx.Err() != nil {
		return err
	}
	p.running = false
	p.clearHold()
	workflow.GetLogger(ctx).Error("step failed: waiting for an operator's retry", "step", what, "error", err)
	p.s.NextRetryAt = nil
	p.s.Hold = c.HoldStepFailed
	p.s.HoldReason = fmt.Sprintf("%s failed (%s): %s", what, failureType(err), failureMessage(err))
	p.setStatus(ctx, c.PaymentAwaitingAction, "an operator's retry: "+p.s.HoldReason)
	return nil
}

// clearHold ends a hold (and a parked step's pending resume).
func (p *payment) clearHold() {
	p.s.Hold, p.s.HoldReason = "", ""
	p.s.ResumeStepAt, p.resume, p.resumeWhat = nil, nil, ""
}

// hold waits in awaiting_action for a person, with the reason (see contracts.Hold*).
func (p *payment) hold(ctx workflow.Context, kind, reason string) error {
	p.running = false
	p.clearHold()
	p.s.NextRetryAt = nil
	p.s.Hold, p.s.HoldReason = kind, reason
	p.setStatus(ctx, c.PaymentAwaitingAction, reason)
	return p.saveSchedule(ctx)
}

// failureType is the type of an activity's failure (its ApplicationError type, or
// timeout), for the reasons operators read.
func failureType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	if temporal.IsTimeoutError(err) {
		return "timeout"
	}
	return "error"
}

func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// updateError is what an Update's caller gets when a step of its command failed: the
// typed ApplicationError of the activity (e.g. invalid_data), or
// temporarily_unavailable when the step ran out of retries.
func updateError(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return temporal.NewApplicationError(appErr.Message(), appErr.Type())
	}
	if temporal.IsTimeoutError(err) {
		return temporal.NewApplicationError("the step kept failing; try again later: "+err.Error(), c.ErrTemporarilyUnavailable)
	}
	return err
}

func (p *payment) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > historyLimit
}

// wait blocks until there is something to do: a command, a provider event, a new payment
// method, a reactivated subscription, the next retry time, or the deadline of a wait for
// a new payment method, or the time a parked step runs again by itself. Parked on a
// failed step, provider events wait too (the resumed step applies them).
func (p *payment) wait(ctx workflow.Context) error {
	ready := func() bool {
		return len(p.commands) > 0 || (len(p.s.PendingEvents) > 0 && p.s.Hold != c.HoldStepFailed) ||
			p.s.PendingPaymentMethod || p.s.ResumeRequested || p.shouldContinueAsNew(ctx)
	}
	var until *time.Time
	summary := ""
	switch p.s.PaymentStatus {
	case c.PaymentRetryScheduled:
		until = p.s.NextRetryAt
		if until != nil {
			// A provider outage uses no attempt of the customer's: the next is still n+1.
			summary = fmt.Sprintf("attempt %d of %d in %s", p.s.FailedAttempts+1, p.s.MaxAttempts, until.Sub(workflow.Now(ctx)).Round(time.Second))
		}
	case c.PaymentProcessing:
		if p.s.InFlightSince != nil {
			until = p.overdueAt()
			summary = "the provider's outcome of " + p.s.InFlight + ", overdue at " + until.UTC().Format(time.RFC3339)
		}
	case c.PaymentAwaitingAction:
		if p.s.Hold == c.HoldStepFailed && p.s.ResumeStepAt != nil {
			until = p.s.ResumeStepAt
			summary = "run the failed step again"
		} else if p.deadlineApplies() {
			until = p.s.Deadline
			if until != nil {
				summary = fmt.Sprintf("wait for a new payment method until %s", until.UTC().Format(time.RFC3339))
			}
		}
	}
	if until == nil {
		return workflow.Await(ctx, ready)
	}
	d := until.Sub(workflow.Now(ctx))
	if d <= 0 {
		return nil
	}
	_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d, TimerOptions: workflow.TimerOptions{Summary: summary}}, ready)
	return err
}

func (p *payment) finish(ctx workflow.Context) (c.InvoicePaymentResult, error) {
	// Answer the Updates accepted before the invoice closed (each is refused now: paid or
	// voided), and let every handler return before the workflow completes.
	for {
		for len(p.commands) > 0 {
			cmd := p.commands[0]
			p.commands = p.commands[1:]
			out, err := p.execute(ctx, cmd)
			if temporal.IsCanceledError(err) {
				return c.InvoicePaymentResult{}, err
			}
			p.results[cmd.id] = commandResult{outcome: out, err: err}
		}
		if err := workflow.Await(ctx, func() bool { return len(p.commands) > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
			return c.InvoicePaymentResult{}, err
		}
		if len(p.commands) == 0 {
			break
		}
	}
	return c.InvoicePaymentResult{Status: p.s.PaymentStatus, AmountPaid: p.s.AmountPaid, Attempts: p.s.ChargeNumber}, nil
}

// execute runs one Update's command and returns its outcome. A step that fails answers
// the caller with a typed error (updateError) and leaves the workflow as it was, ready for
// the next command; a failed manual retry also parks the workflow (its attempt may be
// half done), so the reason is visible and the next retry resumes it.
func (p *payment) execute(ctx workflow.Context, cmd command) (c.UpdateOutcome, error) {
	if err := p.rejectClosed(); err != nil {
		return c.UpdateOutcome{}, err
	}
	switch cmd.kind {
	case c.UpdateRetry:
		before := len(p.s.Transactions)
		if p.s.Hold == c.HoldStepFailed {
			p.clearHold()
			if len(p.s.PendingEvents) > 0 || p.s.InFlight != "" {
				// Resume where it stopped: apply the provider's outcome (the main loop
				// does next) or keep waiting for it; never a second charge meanwhile.
				p.setStatus(ctx, c.PaymentProcessing, "the provider's outcome of the pending charge")
				return p.outcome(nil), nil
			}
		}
		if err := p.attempt(ctx, true); err != nil {
			if perr := p.park(ctx, "the manual retry", err); perr != nil {
				return c.UpdateOutcome{}, perr
			}
			return c.UpdateOutcome{}, updateError(err)
		}
		return p.outcome(p.lastChargeSince(before)), nil
	case c.UpdateReconcile:
		p.running = true
		defer func() { p.running = false }()
		var out c.ChargeOutcome
		err := p.activity(ctx, dbActivity, c.ActivityReconcileInvoice, "reconcile "+cmd.reconcile.Amount+" ("+cmd.reconcile.Reference+")",
			c.ReconcileInput{InvoiceID: p.in.InvoiceID, Key: cmd.id, Request: cmd.reconcile}, &out)
		if err != nil {
			return c.UpdateOutcome{}, updateError(err)
		}
		p.absorb(out.Snapshot)
		if out.Snapshot.Settled {
			if err := p.markPaid(ctx); err != nil {
				return c.UpdateOutcome{}, updateError(err)
			}
		}
		t := out.Transaction
		return p.outcome(&t), nil
	case c.UpdateVoid:
		p.running = true
		defer func() { p.running = false }()
		var closing c.ClosingResult
		if err := p.activity(ctx, dbActivity, c.ActivityVoidInvoice, "void invoice",
			c.VoidInput{InvoiceID: p.in.InvoiceID, Reason: cmd.void.Reason}, &closing); err != nil {
			return c.UpdateOutcome{}, updateError(err)
		}
		var refunded any
		if err := p.activity(ctx, dbActivity, c.ActivityRefundWalletDebits, "give wallet debits back", c.InvoiceRef{InvoiceID: p.in.InvoiceID}, &refunded); err != nil {
			return c.UpdateOutcome{}, updateError(err)
		}
		if _, err := p.load(ctx); err != nil {
			return c.UpdateOutcome{}, updateError(err)
		}
		p.s.NextRetryAt = nil
		p.clearHold()
		why := "voided"
		if cmd.void.Reason != "" {
			why = "voided: " + cmd.void.Reason
		}
		p.setStatus(ctx, c.PaymentVoided, why)
		return p.outcome(nil), nil
	}
	return c.UpdateOutcome{}, temporal.NewApplicationError("unknown command "+cmd.kind, "unknown_command")
}

func (p *payment) lastChargeSince(before int) *c.TransactionView {
	for i := len(p.s.Transactions) - 1; i >= before && i >= 0; i-- {
		if p.s.Transactions[i].Method != "wallet" {
			t := p.s.Transactions[i]
			return &t
		}
	}
	if len(p.s.Transactions) > before {
		t := p.s.Transactions[len(p.s.Transactions)-1]
		return &t
	}
	return nil
}

func (p *payment) outcome(t *c.TransactionView) c.UpdateOutcome {
	return c.UpdateOutcome{Transaction: t, InvoiceStatus: p.s.InvoiceStatus, PaymentStatus: p.s.PaymentStatus,
		AmountDue: p.s.AmountDue, AmountPaid: p.s.AmountPaid}
}

// attempt is one payment attempt: the wallet first, then a charge of the rest on the
// invoice's payment method. An automatic attempt (manual false) is not made while the
// invoice is held (its subscription is errored): it waits instead. A manual retry is an
// operator's decision and charges anyway.
func (p *payment) attempt(ctx workflow.Context, manual bool) error {
	p.running = true
	defer func() { p.running = false }()
	snap, err := p.load(ctx)
	if err != nil {
		return err
	}
	if !manual && snap.Hold != "" {
		return p.hold(ctx, snap.Hold, snap.HoldReason)
	}
	p.clearHold()
	now := workflow.Now(ctx)
	if p.s.FirstAttemptAt == nil {
		first := now
		deadline := now
		for _, d := range p.in.RetrySchedule {
			deadline = deadline.Add(d)
		}
		p.s.FirstAttemptAt, p.s.Deadline = &first, &deadline
	}
	p.s.ChargeNumber++
	n := p.s.ChargeNumber
	p.s.NextRetryAt = nil
	p.setStatus(ctx, c.PaymentCollecting, fmt.Sprintf("attempt %d: taking the wallet, then charging the rest", n))

	var debited any
	if err := p.activity(ctx, dbActivity, c.ActivityDebitWallet, fmt.Sprintf("wallet debit, attempt %d", n),
		c.DebitWalletInput{InvoiceID: p.in.InvoiceID, Attempt: n}, &debited); err != nil {
		return err
	}
	snap, err = p.load(ctx)
	if err != nil {
		return err
	}
	if snap.Settled {
		p.running = false // the attempt is decided: what follows is bookkeeping
		return p.markPaid(ctx)
	}
	if p.in.Method == "bank_transfer" {
		var queued bool
		if err := p.activity(ctx, dbActivity, c.ActivityQueueBankTransferEmail, "email bank transfer instructions",
			c.InvoiceRef{InvoiceID: p.in.InvoiceID}, &queued); err != nil {
			return err
		}
		p.s.Deadline = nil
		p.running = false
		p.setStatus(ctx, c.PaymentAwaitingTransfer, fmt.Sprintf("a bank transfer of %s %s (reconciliation)", snap.AmountDue, snap.Currency))
		return p.saveSchedule(ctx)
	}

	var prep c.PreparedCharge
	if err := p.activity(ctx, dbActivity, c.ActivityPrepareCharge, fmt.Sprintf("prepare charge attempt %d", n),
		c.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &prep); err != nil {
		return err
	}
	if prep.Hold != "" {
		// Nothing to charge the invoice to (no card for a card invoice): wait for one
		// until the deadline; never another method.
		return p.hold(ctx, prep.Hold, prep.HoldReason+fmt.Sprintf(" (until %s)", p.s.Deadline.UTC().Format(time.RFC3339)))
	}
	if prep.NothingDue {
		snap, err := p.load(ctx)
		if err != nil {
			return err
		}
		if snap.Settled {
			p.running = false
			return p.markPaid(ctx)
		}
		return nil
	}
	var out c.ChargeOutcome
	if prep.Transaction.Status == "pending" {
		label := prep.Method
		if prep.Last4 != "" {
			label += " •••• " + prep.Last4
		}
		err := p.activity(ctx, chargeActivity, c.ActivitySendCharge, fmt.Sprintf("charge attempt %d (%s)", n, label),
			c.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &out)
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
		case errors.As(err, &appErr) && appErr.Type() == c.ErrProviderMisconfig:
			// Revoked credentials, a misconfigured account: no retry heals it. One failed
			// transaction, then wait for an operator (no new failure every retry).
			workflow.GetLogger(ctx).Error("the provider refused the charge for good", "error", err)
			if err := p.activity(ctx, dbActivity, c.ActivityRecordProviderFailure, fmt.Sprintf("record provider failure, attempt %d", n),
				c.ProviderFailureInput{InvoiceID: p.in.InvoiceID, ChargeNumber: n, Code: "provider_refused", Message: appErr.Message()}, &out); err != nil {
				return err
			}
			p.running = false
			p.absorb(out.Snapshot)
			p.s.InFlight, p.s.InFlightSince = "", nil
			p.s.LastErrorType = string(declines.ProviderError)
			return p.hold(ctx, c.HoldProviderFailure, "an operator's retry once the payment provider accepts our requests again: "+appErr.Message())
		case temporal.IsTimeoutError(err) || (errors.As(err, &appErr) && appErr.Type() == c.ErrProviderUnavailable):
			// The retry window ran out while the provider was unreachable (or kept
			// answering 5xx/429): nothing was captured under this key.
			workflow.GetLogger(ctx).Warn("provider unreachable for the whole retry window", "error", err)
			if err := p.activity(ctx, dbActivity, c.ActivityRecordProviderOutage, fmt.Sprintf("record provider outage, attempt %d", n),
				c.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &out); err != nil {
				return err
			}
		default:
			return err
		}
	} else {
		// Decided locally (an expired card).
		snap, err := p.load(ctx)
		if err != nil {
			return err
		}
		out = c.ChargeOutcome{Transaction: prep.Transaction, Snapshot: snap}
	}
	// The charge is decided: a manual retry may queue behind the bookkeeping that follows
	// (a pending charge is refused by rejectPendingCharge instead).
	p.running = false
	return p.onChargeOutcome(ctx, out)
}

// onChargeOutcome moves the workflow on after a charge's answer (any earlier hold, e.g.
// an overdue outcome, is over).
func (p *payment) onChargeOutcome(ctx workflow.Context, out c.ChargeOutcome) error {
	p.absorb(out.Snapshot)
	p.clearHold()
	t := out.Transaction
	switch t.Status {
	case "settled":
		p.s.InFlight, p.s.InFlightSince = "", nil
		if out.Snapshot.Settled {
			return p.markPaid(ctx)
		}
		return nil
	case "pending":
		since := workflow.Now(ctx)
		p.s.InFlight, p.s.InFlightSince = t.Reference, &since
		p.setStatus(ctx, c.PaymentProcessing, fmt.Sprintf("the provider's outcome of charge %s (%s)", t.ID, t.Reference))
		return p.saveSchedule(ctx)
	case "failed":
		p.s.InFlight, p.s.InFlightSince = "", nil
		return p.onFailure(ctx, t)
	}
	return nil
}

// onFailure applies the retry rules to a failed charge, as the one policy (package
// declines) and the transaction's stored hard-decline verdict say.
func (p *payment) onFailure(ctx workflow.Context, t c.TransactionView) error {
	pol := declines.Of(declines.Type(t.ErrorType))
	wasErrored := p.s.InvoiceStatus == "error"
	switch pol.Budget {
	case declines.BudgetAttempts:
		p.s.FailedAttempts++
	case declines.BudgetProviderOutages:
		p.s.ProviderOutages++
	}
	p.s.LastErrorType = t.ErrorType
	now := workflow.Now(ctx)
	switch {
	case wasErrored:
		p.setStatus(ctx, c.PaymentErrored, fmt.Sprintf("a manual retry, a new payment method, a reconciliation or a void (last error: %s)", t.ErrorType))
		return p.saveSchedule(ctx)
	case pol.NeverRetried:
		return p.errored(ctx, t.ErrorType+": never retried")
	case p.s.FailedAttempts >= p.s.MaxAttempts:
		return p.errored(ctx, fmt.Sprintf("all %d attempts failed", p.s.MaxAttempts))
	case t.HardDecline:
		if p.s.Deadline != nil && !now.Before(*p.s.Deadline) {
			return p.errored(ctx, "hard decline after the retry deadline")
		}
		p.s.NextRetryAt = nil
		p.setStatus(ctx, c.PaymentAwaitingAction, fmt.Sprintf("a new payment method (%s) until %s", t.ErrorType, p.s.Deadline.UTC().Format(time.RFC3339)))
		return p.saveSchedule(ctx)
	case pol.Budget == declines.BudgetProviderOutages:
		// Not the customer's failure: it does not use up their attempts, but it is bounded
		// like them and by the schedule's deadline; then an operator decides.
		next := now.Add(p.in.RetrySchedule[min(p.s.ProviderOutages, len(p.in.RetrySchedule))-1])
		if p.s.ProviderOutages >= p.s.MaxAttempts || (p.s.Deadline != nil && next.After(*p.s.Deadline)) {
			return p.hold(ctx, c.HoldProviderFailure, fmt.Sprintf(
				"an operator's retry: the payment provider could not be reached for %d charge(s), each retried for an hour, and the schedule allows no more", p.s.ProviderOutages))
		}
		p.s.NextRetryAt = &next
		p.setStatus(ctx, c.PaymentRetryScheduled, fmt.Sprintf("retry at %s after provider outage %d of at most %d (failed attempts: %d of %d)",
			next.UTC().Format(time.RFC3339), p.s.ProviderOutages, p.s.MaxAttempts, p.s.FailedAttempts, p.s.MaxAttempts))
		return p.saveSchedule(ctx)
	}
	idx := min(max(p.s.FailedAttempts-1, 0), len(p.in.RetrySchedule)-1)
	next := now.Add(p.in.RetrySchedule[idx])
	p.s.NextRetryAt = &next
	p.setStatus(ctx, c.PaymentRetryScheduled, fmt.Sprintf("attempt %d of %d at %s (last error: %s)",
		p.s.FailedAttempts+1, p.s.MaxAttempts, next.UTC().Format(time.RFC3339), t.ErrorType))
	return p.saveSchedule(ctx)
}

func (p *payment) errored(ctx workflow.Context, why string) error {
	var closing c.ClosingResult
	if err := p.activity(ctx, dbActivity, c.ActivityMarkInvoiceErrored, "mark invoice error", c.InvoiceRef{InvoiceID: p.in.InvoiceID}, &closing); err != nil {
		return err
	}
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.clearHold()
	p.setStatus(ctx, c.PaymentErrored, "a manual retry, a new payment method, a reconciliation or a void ("+why+")")
	return p.saveSchedule(ctx)
}

func (p *payment) markPaid(ctx workflow.Context) error {
	var closing c.ClosingResult
	if err := p.activity(ctx, dbActivity, c.ActivityMarkInvoicePaid, "mark invoice paid", c.InvoiceRef{InvoiceID: p.in.InvoiceID}, &closing); err != nil {
		return err
	}
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.s.InFlight, p.s.InFlightSince = "", nil
	p.clearHold()
	p.setStatus(ctx, c.PaymentPaid, "nothing: paid")
	// The payment may have put an errored subscription back in service: its other open
	// invoices, held meanwhile, are collected again (one that was not held ignores this).
	for _, id := range closing.ResumeInvoices {
		err := workflow.SignalExternalWorkflow(ctx, c.InvoicePaymentWorkflowID(id), "", c.SignalSubscriptionReactivated,
			c.SubscriptionReactivated{SubscriptionID: p.in.SubscriptionID}).Get(ctx, nil)
		if err != nil && !temporal.IsCanceledError(err) {
			workflow.GetLogger(ctx).Warn("could not resume an invoice of the subscription", "invoice_id", id, "error", err)
		}
	}
	return nil
}

// applyEvent applies a provider event (SEPA outcome) to the charge it is about.
func (p *payment) applyEvent(ctx workflow.Context, ev c.ProviderEvent) error {
	p.running = true
	defer func() { p.running = false }()
	var out c.ChargeOutcome
	if err := p.activity(ctx, dbActivity, c.ActivityApplyProviderEvent, "apply provider event "+ev.EventID+" ("+ev.Status+")",
		c.ProviderEventInput{InvoiceID: p.in.InvoiceID, Event: ev}, &out); err != nil {
		return err
	}
	if out.Transaction.ID == "" || ev.Reference != p.s.InFlight {
		p.absorb(out.Snapshot)
		return nil
	}
	p.running = false
	return p.onChargeOutcome(ctx, out)
}

func (p *payment) load(ctx workflow.Context) (c.InvoiceSnapshot, error) {
	var snap c.InvoiceSnapshot
	if err := p.activity(ctx, dbActivity, c.ActivityLoadInvoice, "load invoice", c.InvoiceRef{InvoiceID: p.in.InvoiceID}, &snap); err != nil {
		return snap, err
	}
	p.absorb(snap)
	return snap, nil
}

func (p *payment) absorb(snap c.InvoiceSnapshot) {
	if snap.InvoiceID == "" {
		return
	}
	p.s.InvoiceStatus, p.s.Currency, p.s.Total = snap.Status, snap.Currency, snap.Total
	p.s.AmountPaid, p.s.AmountDue, p.s.Transactions = snap.AmountPaid, snap.AmountDue, snap.Transactions
}

func (p *payment) saveSchedule(ctx workflow.Context) error {
	return p.activity(ctx, dbActivity, c.ActivitySetInvoiceSchedule, "record schedule",
		c.ScheduleInput{InvoiceID: p.in.InvoiceID, Attempts: p.s.ChargeNumber, NextRetryAt: p.s.NextRetryAt}, nil)
}

func (p *payment) activity(ctx workflow.Context, opts workflow.ActivityOptions, name, summary string, in, out any) error {
	opts.Summary = summary
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), name, in)
	if out == nil {
		return f.Get(ctx, nil)
	}
	return f.Get(ctx, out)
}

// setStatus records the payment status, keeps the search attributes current and tells the
// Web UI what the workflow waits for.
func (p *payment) setStatus(ctx workflow.Context, status, waitingFor string) {
	p.s.PaymentStatus = status
	p.s.WaitingFor = waitingFor
	updates := []temporal.SearchAttributeUpdate{c.SearchPaymentStatus.ValueSet(status)}
	if p.s.NextRetryAt != nil {
		updates = append(updates, c.SearchNextRetryAt.ValueSet(*p.s.NextRetryAt))
	} else {
		updates = append(updates, c.SearchNextRetryAt.ValueUnset())
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Error("search attributes not updated", "error", err)
	}
	hold := ""
	if p.s.Hold != "" {
		hold = fmt.Sprintf("\n\nhold: **%s**", p.s.Hold)
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — waiting for: %s%s\n\nattempts: %d charge(s), %d failed of %d allowed, %d provider outage(s); due %s %s",
		status, waitingFor, hold, p.s.ChargeNumber, p.s.FailedAttempts, p.s.MaxAttempts, p.s.ProviderOutages, p.s.AmountDue, p.s.Currency))
}
