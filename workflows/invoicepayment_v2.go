package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/declines"
	"payorch/steps"
)

// attemptV2 is the attempt of shape v2 (histories without the changeLeanAttempt marker),
// frozen: load, wallet debit, load, prepare, send (regular activities), then the outcome.
// Do not change the commands it schedules; change attempt behind a new version instead.
func (p *payment) attemptV2(ctx workflow.Context, manual bool) error {
	return p.guarded(func() error { return p.attemptV2Steps(ctx, manual) })
}

// attemptV2Steps is attemptV2's body; the whole of it is guarded (in v2 the guard ended
// once the charge was decided: validators leave no trace in a history, so this is safe).
func (p *payment) attemptV2Steps(ctx workflow.Context, manual bool) error {
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

	if _, err := dbStep(ctx, p, a.DebitWallet, fmt.Sprintf("wallet debit, attempt %d", n),
		steps.DebitWalletInput{InvoiceID: p.in.InvoiceID, Attempt: n}); err != nil {
		return err
	}
	snap, err = p.load(ctx)
	if err != nil {
		return err
	}
	if snap.Settled {
		return p.markPaid(ctx)
	}
	if p.in.Method == "bank_transfer" {
		if _, err := dbStep(ctx, p, a.QueueBankTransferEmail, "email bank transfer instructions",
			steps.InvoiceRef{InvoiceID: p.in.InvoiceID}); err != nil {
			return err
		}
		p.s.Deadline = nil
		p.setStatus(ctx, c.PaymentAwaitingTransfer, fmt.Sprintf("a bank transfer of %s %s (reconciliation)", snap.AmountDue, snap.Currency))
		return p.saveSchedule(ctx)
	}

	prep, err := dbStep(ctx, p, a.PrepareCharge, fmt.Sprintf("prepare charge attempt %d", n),
		steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n})
	if err != nil {
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
			return p.markPaid(ctx)
		}
		return nil
	}
	var out steps.ChargeOutcome
	if prep.Transaction.Status == "pending" {
		label := prep.Method
		if prep.Last4 != "" {
			label += " •••• " + prep.Last4
		}
		var err error
		out, err = chargeStep(ctx, a.SendCharge, fmt.Sprintf("charge attempt %d (%s)", n, label),
			steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n})
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
		case errors.As(err, &appErr) && appErr.Type() == c.ErrProviderMisconfig:
			// Revoked credentials, a misconfigured account: no retry heals it. One failed
			// transaction, then wait for an operator (no new failure every retry).
			workflow.GetLogger(ctx).Error("the provider refused the charge for good", "error", err)
			if out, err = dbStep(ctx, p, a.RecordProviderFailure, fmt.Sprintf("record provider failure, attempt %d", n),
				steps.ProviderFailureInput{InvoiceID: p.in.InvoiceID, ChargeNumber: n, Code: steps.ProviderRefusedCode, Message: appErr.Message()}); err != nil {
				return err
			}
			p.absorb(out.Snapshot)
			p.s.InFlight, p.s.InFlightSince = "", nil
			p.s.LastErrorType = string(declines.ProviderError)
			return p.hold(ctx, c.HoldProviderFailure, "an operator's retry once the payment provider accepts our requests again: "+appErr.Message())
		case temporal.IsTimeoutError(err) || (errors.As(err, &appErr) && appErr.Type() == c.ErrProviderUnavailable):
			// The retry window ran out while the provider was unreachable (or kept
			// answering 5xx/429): nothing was captured under this key.
			workflow.GetLogger(ctx).Warn("provider unreachable for the whole retry window", "error", err)
			if out, err = dbStep(ctx, p, a.RecordProviderOutage, fmt.Sprintf("record provider outage, attempt %d", n),
				steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}); err != nil {
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
		out = steps.ChargeOutcome{Transaction: prep.Transaction, Snapshot: snap}
	}
	// The charge is decided: a manual retry may queue behind the bookkeeping that follows
	// (a pending charge is refused by rejectPendingCharge instead).
	return p.onChargeOutcome(ctx, out)
}
