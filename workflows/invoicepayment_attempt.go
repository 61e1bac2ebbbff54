package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/declines"
	"payorch/dunning"
	"payorch/steps"
)

// attempt is one payment attempt: the wallet first, then a charge of the rest on the
// invoice's payment method. An automatic attempt (manual false) is not made while the
// invoice is held (its subscription is errored): it waits instead. A manual retry is an
// operator's decision and charges anyway.
//
// It costs one local activity (StartAttempt: wallet, then paid, bank transfer or the
// charge prepared, in one transaction) and, when there is something to charge, one
// activity (ChargeAttempt: the provider call, and the outcome recorded with the paid
// invoice in one transaction).
func (p *payment) attempt(ctx workflow.Context, manual bool) error {
	if !p.lean(ctx) {
		return p.attemptV2(ctx, manual)
	}
	// Attempt n is only counted (charge number, the schedule's start) once StartAttempt
	// says it is made: a held or closed invoice uses none, and writes nothing under n.
	n := p.s.ChargeNumber + 1
	var st steps.AttemptStart
	var out steps.ChargeOutcome
	charged := false
	err := p.guarded(func() (err error) {
		st, err = dbStep(ctx, p, a.StartAttempt, fmt.Sprintf("attempt %d: wallet, then the charge prepared", n),
			steps.StartAttemptInput{InvoiceID: p.in.InvoiceID, Attempt: n, Manual: manual})
		if err != nil {
			return err
		}
		p.absorb(st.Snapshot)
		if st.Hold != "" || (st.Closed && st.Paid == nil) {
			return nil
		}
		p.s.ChargeNumber = n
		p.startSchedule(ctx)
		p.s.NextRetryAt = nil
		p.clearHold()
		if st.Paid != nil || st.BankTransfer || st.Charge.Hold != "" || st.Charge.NothingDue {
			return nil
		}
		charged = true
		if st.Charge.Transaction.Status != "pending" {
			// Decided locally (an expired card).
			out = steps.ChargeOutcome{Transaction: st.Charge.Transaction, Snapshot: st.Snapshot}
			return nil
		}
		p.setStatus(ctx, c.PaymentCollecting, fmt.Sprintf("attempt %d: the wallet paid %s; charging the rest", n, st.WalletPaid))
		out, err = p.charge(ctx, n, st.Charge)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case st.Hold != "":
		return p.hold(ctx, st.Hold, st.HoldReason)
	case st.Paid != nil:
		// Paid by the wallet now, or — a repeated run of this step — earlier: either way
		// its subscription's held invoices are told.
		p.paid(ctx, *st.Paid)
		return nil
	case st.Closed:
		return p.closedMeanwhile(ctx)
	case st.BankTransfer:
		p.s.Deadline = nil
		p.setStatus(ctx, c.PaymentAwaitingTransfer, fmt.Sprintf("a bank transfer of %s %s (reconciliation)", st.Snapshot.AmountDue, st.Snapshot.Currency))
		return p.saveSchedule(ctx)
	case st.Charge.Hold != "":
		// Nothing to charge the invoice to (no card for a card invoice): wait for one
		// until the deadline; never another method.
		return p.hold(ctx, st.Charge.Hold, st.Charge.HoldReason+fmt.Sprintf(" (until %s)", p.s.Deadline.UTC().Format(time.RFC3339)))
	case !charged:
		return nil // nothing due and not closed: an operator looks (the invoice is not to_pay)
	}
	return p.onChargeOutcome(ctx, out)
}

// startSchedule fixes the schedule's start and deadline at the first attempt.
func (p *payment) startSchedule(ctx workflow.Context) {
	if p.s.FirstAttemptAt != nil {
		return
	}
	first := workflow.Now(ctx)
	deadline := dunning.Deadline(first, p.in.RetrySchedule)
	p.s.FirstAttemptAt, p.s.Deadline = &first, &deadline
}

// closedMeanwhile ends collection of an invoice that was paid or voided by someone else.
func (p *payment) closedMeanwhile(ctx workflow.Context) error {
	p.s.NextRetryAt = nil
	p.clearHold()
	if p.s.InvoiceStatus == "voided" {
		p.setStatus(ctx, c.PaymentVoided, "already voided")
	} else {
		p.setStatus(ctx, c.PaymentPaid, "already paid")
	}
	return nil
}

// charge sends prepared charge n (ChargeAttempt). A provider that refuses for good, or
// stays unreachable for the activity's whole retry window, fails the charge with
// provider_error (one failed transaction, recorded once); the dunning policy decides what
// follows.
func (p *payment) charge(ctx workflow.Context, n int, prep steps.PreparedCharge) (steps.ChargeOutcome, error) {
	label := prep.Method
	if prep.Last4 != "" {
		label += " •••• " + prep.Last4
	}
	ref := steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}
	out, err := chargeStep(ctx, a.ChargeAttempt, fmt.Sprintf("charge attempt %d (%s)", n, label), ref)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &appErr) && appErr.Type() == c.ErrProviderMisconfig:
		// Revoked credentials, a misconfigured account: no retry heals it. One failed
		// transaction, then wait for an operator (no new failure every retry).
		workflow.GetLogger(ctx).Error("the provider refused the charge for good", "error", err)
		out, err := dbStep(ctx, p, a.RecordProviderFailure, fmt.Sprintf("record provider failure, attempt %d", n),
			steps.ProviderFailureInput{InvoiceID: p.in.InvoiceID, ChargeNumber: n, Code: steps.ProviderRefusedCode, Message: appErr.Message()})
		return out, err
	case temporal.IsTimeoutError(err) || (errors.As(err, &appErr) && appErr.Type() == c.ErrProviderUnavailable):
		// The retry window ran out while the provider was unreachable (or kept
		// answering 5xx/429): nothing was captured under this key.
		workflow.GetLogger(ctx).Warn("provider unreachable for the whole retry window", "error", err)
		return dbStep(ctx, p, a.RecordProviderOutage, fmt.Sprintf("record provider outage, attempt %d", n), ref)
	}
	return out, err
}

// onChargeOutcome moves the workflow on after a charge's answer (any earlier hold, e.g.
// an overdue outcome, is over).
func (p *payment) onChargeOutcome(ctx workflow.Context, out steps.ChargeOutcome) error {
	p.absorb(out.Snapshot)
	p.clearHold()
	t := out.Transaction
	switch t.Status {
	case "settled":
		p.s.InFlight, p.s.InFlightSince = "", nil
		switch {
		case out.Paid != nil:
			p.paid(ctx, *out.Paid)
		case out.Snapshot.Settled:
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

// onFailure applies the retry rule (dunning.Next) to a failed charge.
func (p *payment) onFailure(ctx workflow.Context, t c.TransactionView) error {
	st := dunning.State{Schedule: p.in.RetrySchedule, FailedAttempts: p.s.FailedAttempts,
		ProviderOutages: p.s.ProviderOutages, Deadline: p.s.Deadline, Errored: p.s.InvoiceStatus == "error", Now: workflow.Now(ctx)}
	if p.policy {
		st.ByErrorType = p.in.RetryByErrorType // the policy fixed when the workflow started
	}
	d := dunning.Next(st, dunning.Outcome{ErrorType: t.ErrorType, HardDecline: t.HardDecline,
		ProviderRefused: t.ErrorType == string(declines.ProviderError) && t.ProviderCode == steps.ProviderRefusedCode, Message: t.Message})
	p.s.FailedAttempts, p.s.ProviderOutages = d.FailedAttempts, d.ProviderOutages
	p.s.LastErrorType = t.ErrorType
	if p.policy {
		p.s.DunningRule, p.s.MaxAttempts = d.Rule, d.MaxAttempts
	}
	switch d.Action {
	case dunning.StayErrored:
		p.setStatus(ctx, c.PaymentErrored, d.Why)
		return p.saveSchedule(ctx)
	case dunning.MarkErrored:
		return p.errored(ctx, d.Why)
	case dunning.HoldForOperator:
		return p.hold(ctx, c.HoldProviderFailure, d.Why)
	case dunning.WaitForPaymentMethod:
		p.s.NextRetryAt = nil
		p.setStatus(ctx, c.PaymentAwaitingAction, d.Why)
		return p.saveSchedule(ctx)
	}
	p.s.NextRetryAt = d.At
	p.setStatus(ctx, c.PaymentRetryScheduled, d.Why)
	return p.saveSchedule(ctx)
}

func (p *payment) errored(ctx workflow.Context, why string) error {
	closing, err := dbStep(ctx, p, a.MarkInvoiceErrored, "mark invoice error", steps.InvoiceRef{InvoiceID: p.in.InvoiceID})
	if err != nil {
		return err
	}
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.clearHold()
	p.setStatus(ctx, c.PaymentErrored, "a manual retry, a new payment method, a reconciliation or a void ("+why+")")
	return p.saveSchedule(ctx)
}

// markPaid marks a fully paid invoice paid (when no step did it already).
func (p *payment) markPaid(ctx workflow.Context) error {
	closing, err := dbStep(ctx, p, a.MarkInvoicePaid, "mark invoice paid", steps.InvoiceRef{InvoiceID: p.in.InvoiceID})
	if err != nil {
		return err
	}
	p.paid(ctx, closing)
	return nil
}

// paid records that the invoice is paid. The payment may have put an errored
// subscription back in service: its other open invoices, held meanwhile, are collected
// again (one that was not held ignores the signal).
func (p *payment) paid(ctx workflow.Context, closing steps.ClosingResult) {
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.s.InFlight, p.s.InFlightSince = "", nil
	p.clearHold()
	p.setStatus(ctx, c.PaymentPaid, "nothing: paid")
	for _, id := range closing.ResumeInvoices {
		err := workflow.SignalExternalWorkflow(ctx, c.InvoicePaymentWorkflowID(id), "", c.SignalSubscriptionReactivated,
			c.SubscriptionReactivated{SubscriptionID: p.in.SubscriptionID}).Get(ctx, nil)
		if err != nil && !temporal.IsCanceledError(err) {
			workflow.GetLogger(ctx).Warn("could not resume an invoice of the subscription", "invoice_id", id, "error", err)
		}
	}
}

// applyEvent applies a provider event (SEPA outcome) to the charge it is about.
func (p *payment) applyEvent(ctx workflow.Context, ev c.ProviderEvent) error {
	var out steps.ChargeOutcome
	err := p.guarded(func() (err error) {
		out, err = dbStep(ctx, p, a.ApplyProviderEvent, "apply provider event "+ev.EventID+" ("+ev.Status+")",
			steps.ProviderEventInput{InvoiceID: p.in.InvoiceID, Event: ev})
		return err
	})
	if err != nil {
		return err
	}
	if out.Transaction.ID == "" || ev.Reference != p.s.InFlight {
		p.absorb(out.Snapshot)
		return nil
	}
	return p.onChargeOutcome(ctx, out)
}
