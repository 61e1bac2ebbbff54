package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/dunning"
	"payorch/steps"
)

// load reads the invoice and takes what the workflow reports from it.
func (p *payment) load(ctx workflow.Context) (steps.InvoiceSnapshot, error) {
	snap, err := dbStep(ctx, p, a.LoadInvoice, "load invoice", steps.InvoiceRef{InvoiceID: p.in.InvoiceID})
	if err != nil {
		return snap, err
	}
	p.absorb(snap)
	return snap, nil
}

// absorb takes the invoice's amounts and transactions from a step's snapshot (what the
// step knew: nothing is read again).
func (p *payment) absorb(snap steps.InvoiceSnapshot) {
	if snap.InvoiceID == "" {
		return
	}
	p.s.InvoiceStatus, p.s.Currency, p.s.Total = snap.Status, snap.Currency, snap.Total
	p.s.AmountPaid, p.s.AmountDue, p.s.Transactions = snap.AmountPaid, snap.AmountDue, snap.Transactions
}

// saveSchedule records the attempt count and the next retry on the invoice (the API
// shows them).
func (p *payment) saveSchedule(ctx workflow.Context) error {
	return dbStepNoResult(ctx, p, a.SetInvoiceSchedule, "record schedule",
		steps.ScheduleInput{InvoiceID: p.in.InvoiceID, Attempts: p.s.ChargeNumber, NextRetryAt: p.s.NextRetryAt})
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
	rule := ""
	if p.s.DunningRule != "" {
		rule = "\n\ndunning: " + p.dunningRule()
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — waiting for: %s%s\n\nattempts: %d charge(s), %d failed of %d allowed, %d provider outage(s); due %s %s%s",
		status, waitingFor, hold, p.s.ChargeNumber, p.s.FailedAttempts, p.s.MaxAttempts, p.s.ProviderOutages, p.s.AmountDue, p.s.Currency, rule))
}

// dunningRule says which schedule of the dunning policy decided after the last failure
// and what it is: "processing_error (15m, 1h, 6h)".
func (p *payment) dunningRule() string {
	sched := p.in.RetrySchedule
	if s, ok := p.in.RetryByErrorType[p.s.DunningRule]; ok {
		sched = s
	}
	return fmt.Sprintf("%s (%s)", p.s.DunningRule, strings.Join(dunning.FormatSchedule(sched), ", "))
}

// retrySummary is the Web UI's summary of a scheduled retry: "retry 2 of 3 in 1h
// (dunning: processing_error)", or for a provider outage, which uses no retry of the
// customer's, "retry after provider outage 1 of at most 4 in 15m (dunning: default)".
func (p *payment) retrySummary(in time.Duration) string {
	if !p.policy {
		// A provider outage uses no attempt of the customer's: the next is still n+1.
		return fmt.Sprintf("attempt %d of %d in %s", p.s.FailedAttempts+1, p.s.MaxAttempts, in)
	}
	delay, rule := dunning.FormatDelay(in), p.s.DunningRule
	if rule == "" {
		rule = dunning.RuleDefault // carried over from a run before the change
	}
	if p.s.LastErrorType == errProviderError {
		return fmt.Sprintf("retry after provider outage %d of at most %d in %s (dunning: %s)", p.s.ProviderOutages, p.s.MaxAttempts, delay, rule)
	}
	return fmt.Sprintf("retry %d of %d in %s (dunning: %s)", p.s.FailedAttempts, p.s.MaxAttempts-1, delay, rule)
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
			summary = p.retrySummary(until.Sub(workflow.Now(ctx)).Round(time.Second))
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
