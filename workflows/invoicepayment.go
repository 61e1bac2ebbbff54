package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/declines"
	"payorch/dunning"
)

// The invoice payment workflow, by concern:
//
//	invoicepayment.go           entry, state, the main loop and what it waits for
//	invoicepayment_handlers.go  query, signals, Updates (validators and handlers), commands
//	invoicepayment_attempt.go   one attempt: wallet, charge, outcome, the dunning decision
//	invoicepayment_steps.go     steps that fail: park, resume, holds, errors for callers
//	invoicepayment_status.go    status, search attributes, the Web UI's details
//	invoicepayment_v1.go        the first released shape, frozen (histories without markers)
//	invoicepayment_v2.go        the attempt of shape v2, frozen
//	activityrefs.go             typed activity references and their options

// Changes to the released InvoicePayment workflow, each a workflow.GetVersion change id.
// Add one for every change to the commands the workflow schedules (an activity added,
// removed, renamed or reordered, a timer, a child, a marker); never remove one while a
// history that lacks it may still be open.
const (
	// changeExactlyOnce: the decline policy, bounded database steps, parked steps, holds
	// for errored subscriptions and missing methods, bounded provider failures (issue
	// 10). Histories without its marker run invoicePaymentV1 (invoicepayment_v1.go).
	changeExactlyOnce = "exactly-once-at-the-edges"
	// changeLeanAttempt: an attempt is one local activity (wallet, then paid, bank
	// transfer or the charge prepared, in one transaction) and one charge activity that
	// also records the paid invoice; every database step is a local activity (issue 12).
	// Histories without its marker take attemptV2 and regular database activities.
	changeLeanAttempt = "lean-attempt"
	// changeDunningPolicy: the dunning policy (issue 15) — a failed charge is retried on
	// the schedule its error type has in the policy fixed into the input
	// (RetryByErrorType), and the Web UI says which rule applied. Asked once, at start.
	// Histories without its marker use RetrySchedule for every type, as before.
	changeDunningPolicy = "dunning-policy"
)

// errProviderError is the provider_error type as a string (the wallet-load workflow reads it).
const errProviderError = string(declines.ProviderError)

// pendingLimit is how long a pending charge (a SEPA direct debit takes up to 14 business
// days) may wait for the provider's outcome, or until the schedule's deadline if later,
// before the workflow asks a person to look (awaiting_action, provider_outcome_overdue).
const pendingLimit = 20 * 24 * time.Hour

// maxSeenEvents bounds the list of provider event ids kept to ignore duplicates.
const maxSeenEvents = 50

// stepResumeDelay is how long after a step ran out of retries on an infrastructure
// failure (the database unreachable) it runs again by itself; it doubles each time, at most
// maxStepResumes times, then an operator's retry is needed.
const (
	stepResumeDelay = 15 * time.Minute
	maxStepResumes  = 4
)

// defaultHistoryLimit continues the workflow as new before its history gets long, even
// if the server has not suggested it yet (InvoicePaymentInput.HistoryLimit overrides it).
const defaultHistoryLimit = 8000

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
	// deciding is true while a step decides a charge or applies a money change (see
	// guarded); a manual retry is refused meanwhile.
	deciding bool
	// shape is the version of changeLeanAttempt this history runs (see lean), once asked.
	shape *workflow.Version
	// policy is true when this history runs changeDunningPolicy (asked at start).
	policy bool
	// resume is the step to run again when a step parked on an infrastructure failure
	// (its retries ran out) resumes by itself at ResumeStepAt (nil: an operator's retry).
	resume     func() error
	resumeWhat string
}

// InvoicePayment collects one invoice: the wallet first, then the default payment method,
// retried on the schedule fixed at start (package dunning decides), with the error
// states, manual retry, reconciliation and void of DESIGN.md "Invoice payment". It ends
// when the invoice is paid or voided.
//
// Running payments outlive deploys (an errored invoice may wait for months), so every
// change to the commands this workflow schedules goes behind workflow.GetVersion (see
// changeLeanAttempt); the recorded histories of every released shape
// (testdata/<shape>/) replay in a test.
func InvoicePayment(ctx workflow.Context, in c.InvoicePaymentInput) (c.InvoicePaymentResult, error) {
	if workflow.GetVersion(ctx, changeExactlyOnce, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		// A payment started before the change: it goes on as the first released shape
		// until it ends or continues as new (the next run takes this path's state).
		return invoicePaymentV1(ctx, in)
	}
	p := &payment{in: in, results: map[string]commandResult{}}
	p.policy = workflow.GetVersion(ctx, changeDunningPolicy, workflow.DefaultVersion, 1) == 1
	if in.Carry != nil {
		p.s = *in.Carry
	} else {
		p.s = c.PaymentState{InvoiceID: in.InvoiceID, PaymentStatus: c.PaymentCollecting,
			MaxAttempts: dunning.MaxAttempts(in.RetrySchedule), Transactions: []c.TransactionView{}}
	}
	if err := p.register(ctx); err != nil {
		return c.InvoicePaymentResult{}, err
	}
	return p.run(ctx)
}

// lean reports whether this history runs the current shape (changeLeanAttempt); the
// version is asked once, at the first step that depends on it.
func (p *payment) lean(ctx workflow.Context) bool {
	if p.shape == nil {
		v := workflow.GetVersion(ctx, changeLeanAttempt, workflow.DefaultVersion, 1)
		p.shape = &v
	}
	return *p.shape == 1
}

func (p *payment) run(ctx workflow.Context) (c.InvoicePaymentResult, error) {
	if p.in.Carry == nil {
		if err := p.first(ctx); err != nil {
			return c.InvoicePaymentResult{}, err
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
		woken, err := p.next(ctx)
		if err != nil {
			return c.InvoicePaymentResult{}, err
		}
		if woken {
			continue // something arrived and was handled: look again before continuing as new
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

// first is the first attempt. In shape v2 the invoice was loaded first, to end at once
// when it was already paid or voided; the current attempt finds that out itself.
func (p *payment) first(ctx workflow.Context) error {
	if p.lean(ctx) {
		return p.step(ctx, "the first attempt", func() error { return p.attempt(ctx, false) })
	}
	snap, err := p.load(ctx)
	switch {
	case err != nil:
		return p.park(ctx, "load the invoice", err)
	case snap.Status == "paid":
		p.setStatus(ctx, c.PaymentPaid, "already paid")
	case snap.Status == "voided":
		p.setStatus(ctx, c.PaymentVoided, "already voided")
	default:
		return p.step(ctx, "the first attempt", func() error { return p.attempt(ctx, false) })
	}
	return nil
}

// next does the one most urgent thing there is to do, in this order: an Update's command,
// a provider event, a new payment method, a reactivated subscription, a parked step due
// to run again, then what the status's clock says (an overdue outcome, a retry, a
// deadline). woken is true when it handled something that arrived (or the parked step):
// the loop then looks again before it may continue as new.
func (p *payment) next(ctx workflow.Context) (woken bool, err error) {
	logger := workflow.GetLogger(ctx)
	switch {
	case len(p.commands) > 0:
		cmd := p.commands[0]
		p.commands = p.commands[1:]
		out, err := p.execute(ctx, cmd)
		if temporal.IsCanceledError(err) {
			return true, err
		}
		p.results[cmd.id] = commandResult{outcome: out, err: err}
		return true, nil
	case len(p.s.PendingEvents) > 0 && p.s.Hold != c.HoldStepFailed:
		ev := p.s.PendingEvents[0]
		p.s.PendingEvents = p.s.PendingEvents[1:]
		if err := p.applyEvent(ctx, ev); err != nil {
			// Keep the event: resuming (by itself or by an operator's retry) applies it again.
			p.s.PendingEvents = append([]c.ProviderEvent{ev}, p.s.PendingEvents...)
			return true, p.parkFor(ctx, "apply provider event "+ev.EventID, err, func() error { return nil })
		}
		return true, nil
	case p.s.PendingPaymentMethod:
		p.s.PendingPaymentMethod = false
		if p.s.InFlight != "" {
			return true, nil // a charge is pending: its outcome decides; the new method serves the next attempt
		}
		switch p.s.PaymentStatus {
		case c.PaymentRetryScheduled, c.PaymentAwaitingAction, c.PaymentErrored:
			logger.Info("new payment method: charging at once", "payment_method_id", p.s.LastPaymentMethodID)
			return true, p.step(ctx, "the charge on the new payment method", func() error { return p.attempt(ctx, false) })
		}
		return true, nil
	case p.s.ResumeRequested:
		p.s.ResumeRequested = false
		if p.s.Hold == c.HoldSubscriptionErrored {
			logger.Info("subscription reactivated: collecting again")
			return true, p.step(ctx, "the attempt after the subscription's reactivation", func() error { return p.attempt(ctx, false) })
		}
		return true, nil
	}
	now := workflow.Now(ctx)
	if p.s.Hold == c.HoldStepFailed && p.s.ResumeStepAt != nil && !now.Before(*p.s.ResumeStepAt) {
		return true, p.resumeStep(ctx)
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
			return false, p.step(ctx, fmt.Sprintf("retry %d", p.s.FailedAttempts+1), func() error { return p.attempt(ctx, false) })
		}
	case c.PaymentAwaitingAction:
		if p.deadlineApplies() && p.s.Deadline != nil && !now.Before(*p.s.Deadline) {
			why := "no new payment method before the retry deadline"
			if p.s.Hold == c.HoldPaymentMethodMissing {
				why = "no payment method to charge before the retry deadline"
			}
			return false, p.step(ctx, "mark the invoice errored", func() error { return p.errored(ctx, why) })
		}
	}
	return false, nil
}

func (p *payment) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := p.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit
}

// finish answers the Updates accepted before the invoice closed (each is refused now: paid
// or voided), lets every handler return, and completes the workflow.
func (p *payment) finish(ctx workflow.Context) (c.InvoicePaymentResult, error) {
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
