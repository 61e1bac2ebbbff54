package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/steps"
)

// register installs the query, the signal readers and the Updates. Signals only record
// what arrived (duplicates ignored); Updates are validated, then queued as commands the
// main loop runs in arrival order (see execute).
func (p *payment) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, c.QueryState, func() (c.PaymentState, error) { return p.s, nil }); err != nil {
		return err
	}
	workflow.Go(ctx, p.receivePaymentMethods)
	workflow.Go(ctx, p.receiveProviderEvents)
	workflow.Go(ctx, p.receiveReactivations)
	if err := workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateRetry, p.handleRetry,
		workflow.UpdateHandlerOptions{Validator: p.validateRetry}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateReconcile, p.handleReconcile,
		workflow.UpdateHandlerOptions{Validator: p.validateReconcile}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateVoid, p.handleVoid,
		workflow.UpdateHandlerOptions{Validator: p.validateVoid})
}

// receivePaymentMethods records a new payment method (SignalPaymentMethodUpdated); the
// main loop charges it at once when the invoice waits.
func (p *payment) receivePaymentMethods(ctx workflow.Context) {
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
}

// receiveProviderEvents queues the provider's asynchronous outcomes (SignalProviderEvent),
// ignoring an event id seen before.
func (p *payment) receiveProviderEvents(ctx workflow.Context) {
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
}

// receiveReactivations records a subscription's reactivation (SignalSubscriptionReactivated).
func (p *payment) receiveReactivations(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, c.SignalSubscriptionReactivated)
	for {
		var sig c.SubscriptionReactivated
		ch.Receive(ctx, &sig)
		// Kept even when not held yet: an attempt under way may still hold on what it
		// read before the reactivation; the main loop then tries again.
		p.s.ResumeRequested = true
	}
}

func (p *payment) seen(id string) bool {
	for _, s := range p.s.SeenEvents {
		if s == id {
			return true
		}
	}
	return false
}

// validateRetry refuses a manual retry of a closed invoice, of a bank-transfer invoice
// (it is reconciled, never charged), or while something is in flight (rejectInFlight).
func (p *payment) validateRetry(workflow.Context, c.RetryRequest) error {
	if err := p.rejectClosed(); err != nil {
		return err
	}
	if p.in.Method == "bank_transfer" {
		return temporal.NewApplicationError("a bank-transfer invoice is not charged automatically; reconcile it", "not_retryable")
	}
	return p.rejectInFlight()
}

// validateReconcile refuses a reconciliation of a closed invoice, without an amount or a
// date, or while a charge awaits the provider's outcome.
func (p *payment) validateReconcile(_ workflow.Context, req c.ReconcileRequest) error {
	if err := p.rejectClosed(); err != nil {
		return err
	}
	if req.Amount == "" || req.PaidAt.IsZero() {
		return temporal.NewApplicationError("amount and paid_at are required", c.ErrInvalidReconcile)
	}
	return p.rejectPendingCharge()
}

// validateVoid refuses a void of a closed invoice or while a charge awaits the provider.
func (p *payment) validateVoid(workflow.Context, c.VoidRequest) error {
	if err := p.rejectClosed(); err != nil {
		return err
	}
	return p.rejectPendingCharge()
}

func (p *payment) handleRetry(ctx workflow.Context, _ c.RetryRequest) (c.UpdateOutcome, error) {
	return p.enqueue(ctx, command{kind: c.UpdateRetry})
}

func (p *payment) handleReconcile(ctx workflow.Context, req c.ReconcileRequest) (c.UpdateOutcome, error) {
	return p.enqueue(ctx, command{kind: c.UpdateReconcile, reconcile: req})
}

func (p *payment) handleVoid(ctx workflow.Context, req c.VoidRequest) (c.UpdateOutcome, error) {
	return p.enqueue(ctx, command{kind: c.UpdateVoid, void: req})
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

// rejectInFlight refuses a manual retry while a step decides a charge (guarded), a charge
// awaits the provider's outcome, or another request is queued: the retry would race them.
// A workflow parked on a failed step takes the operator's retry in any case (it resumes
// the step; it does not send a second charge while one is pending).
func (p *payment) rejectInFlight() error {
	if p.deciding || len(p.commands) > 0 {
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

// guarded runs fn — a step that decides a charge or moves money — as the one span in
// which a manual retry is refused (rejectInFlight): the retry would race it. What follows
// the decision (bookkeeping, the next status) runs outside, so a retry may queue behind it.
func (p *payment) guarded(fn func() error) error {
	p.deciding = true
	defer func() { p.deciding = false }()
	return fn()
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
		return p.manualRetry(ctx)
	case c.UpdateReconcile:
		return p.reconcile(ctx, cmd)
	case c.UpdateVoid:
		return p.voidInvoice(ctx, cmd.void)
	}
	return c.UpdateOutcome{}, temporal.NewApplicationError("unknown command "+cmd.kind, "unknown_command")
}

func (p *payment) manualRetry(ctx workflow.Context) (c.UpdateOutcome, error) {
	before := len(p.s.Transactions)
	if p.s.Hold == c.HoldStepFailed {
		p.clearHold()
		if len(p.s.PendingEvents) > 0 || p.s.InFlight != "" {
			// Resume where it stopped: apply the provider's outcome (the main loop does
			// next) or keep waiting for it; never a second charge meanwhile.
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
}

func (p *payment) reconcile(ctx workflow.Context, cmd command) (c.UpdateOutcome, error) {
	var out steps.ChargeOutcome
	err := p.guarded(func() (err error) {
		out, err = dbStep(ctx, p, a.ReconcileInvoice, "reconcile "+cmd.reconcile.Amount+" ("+cmd.reconcile.Reference+")",
			steps.ReconcileInput{InvoiceID: p.in.InvoiceID, Key: cmd.id, Request: cmd.reconcile})
		if err != nil {
			return err
		}
		p.absorb(out.Snapshot)
		if out.Snapshot.Settled {
			return p.markPaid(ctx)
		}
		return nil
	})
	if err != nil {
		return c.UpdateOutcome{}, updateError(err)
	}
	t := out.Transaction
	return p.outcome(&t), nil
}

func (p *payment) voidInvoice(ctx workflow.Context, req c.VoidRequest) (c.UpdateOutcome, error) {
	err := p.guarded(func() error {
		if _, err := dbStep(ctx, p, a.VoidInvoice, "void invoice", steps.VoidInput{InvoiceID: p.in.InvoiceID, Reason: req.Reason}); err != nil {
			return err
		}
		if _, err := dbStep(ctx, p, a.RefundWalletDebits, "give wallet debits back", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}); err != nil {
			return err
		}
		_, err := p.load(ctx)
		return err
	})
	if err != nil {
		return c.UpdateOutcome{}, updateError(err)
	}
	p.s.NextRetryAt = nil
	p.clearHold()
	why := "voided"
	if req.Reason != "" {
		why = "voided: " + req.Reason
	}
	p.setStatus(ctx, c.PaymentVoided, why)
	return p.outcome(nil), nil
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
