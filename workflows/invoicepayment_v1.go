package workflows

// This file is the first released shape of InvoicePayment (until the change
// "exactly-once-at-the-edges"), frozen: payments started before that change replay and go
// on through it. Never edit it; delete it only when no open execution lacks the change
// marker (Web UI: WorkflowType = "InvoicePayment" AND ExecutionStatus = "Running", then
// look for the marker in their histories) or when every one has continued as new.

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
	"payorch/steps"
)

// Error types of the payment-provider failures the workflow reasons about.
const (
	errFraudV1         = "fraud"
	errProviderErrorV1 = "provider_error"
)

// maxSeenEventsV1 bounds the list of provider event ids kept to ignore duplicates.
const maxSeenEventsV1 = 50

// historyLimitV1 continues the workflow as new before its history gets long, even if the
// server has not suggested it yet (a variable so a test can lower it).
var historyLimitV1 = 8000

// Activity options: database activities retry until the database answers; the charge
// retries infrastructure failures with backoff for at most an hour — well inside the
// ~24 h for which Stripe keeps an idempotency key — and never retries a decline (a
// decline is a result, not an error).
var (
	dbActivityV1 = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{c.ErrInvoiceNotFound, c.ErrAmountExceedsDue, c.ErrInvoicePaid,
				c.ErrInvoiceVoided, c.ErrInvalidReconcile},
		},
	}
	chargeActivityV1 = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{c.ErrInvoiceNotFound, c.ErrProviderMisconfig, c.ErrAmountExceedsDue},
		},
	}
)

// commandV1 is a request from an Update, executed by the main loop in arrival order.
type commandV1 struct {
	id        string
	kind      string
	reconcile c.ReconcileRequest
}

// commandResultV1 is what an Update handler returns.
type commandResultV1 struct {
	outcome c.UpdateOutcome
	err     error
}

// paymentV1 is the first released shape's in-memory state.
type paymentV1 struct {
	in       c.InvoicePaymentInput
	s        c.PaymentState
	commands []commandV1
	results  map[string]commandResultV1
	// running is true while an attempt decides its charge (wallet, charge) or a command
	// or provider event is applied; a manual retry is refused meanwhile.
	running bool
}

// InvoicePayment collects one invoice: the wallet first, then the default payment method,
// retried on the schedule fixed at start, with the error states, manual retry,
// reconciliation and void of DESIGN.md "Invoice payment". It ends when the invoice is
// paid or voided.
func invoicePaymentV1(ctx workflow.Context, in c.InvoicePaymentInput) (c.InvoicePaymentResult, error) {
	p := &paymentV1{in: in, results: map[string]commandResultV1{}}
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

func (p *paymentV1) register(ctx workflow.Context) error {
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
			if len(p.s.SeenEvents) > maxSeenEventsV1 {
				p.s.SeenEvents = p.s.SeenEvents[len(p.s.SeenEvents)-maxSeenEventsV1:]
			}
			p.s.PendingEvents = append(p.s.PendingEvents, ev)
		}
	})
	if err := workflow.SetUpdateHandlerWithOptions(ctx, c.UpdateRetry,
		func(ctx workflow.Context, _ c.RetryRequest) (c.UpdateOutcome, error) {
			return p.enqueue(ctx, commandV1{kind: c.UpdateRetry})
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
			return p.enqueue(ctx, commandV1{kind: c.UpdateReconcile, reconcile: req})
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
		func(ctx workflow.Context, _ c.VoidRequest) (c.UpdateOutcome, error) {
			return p.enqueue(ctx, commandV1{kind: c.UpdateVoid})
		}, workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, _ c.VoidRequest) error {
			if err := p.rejectClosed(); err != nil {
				return err
			}
			return p.rejectPendingCharge()
		}})
}

func (p *paymentV1) seen(id string) bool {
	for _, s := range p.s.SeenEvents {
		if s == id {
			return true
		}
	}
	return false
}

func (p *paymentV1) rejectClosed() error {
	switch p.s.PaymentStatus {
	case c.PaymentPaid:
		return temporal.NewApplicationError("the invoice is paid", c.ErrInvoicePaid)
	case c.PaymentVoided:
		return temporal.NewApplicationError("the invoice is voided", c.ErrInvoiceVoided)
	}
	return nil
}

// rejectInFlight refuses a manual retry while an attempt runs, a charge awaits the
// provider's outcome, or another request is queued: the retry would race them.
func (p *paymentV1) rejectInFlight() error {
	if p.running || len(p.commands) > 0 {
		return temporal.NewApplicationError("a charge or another request is in flight for this invoice; retry when it has finished", c.ErrChargeInFlight)
	}
	return p.rejectPendingCharge()
}

// rejectPendingCharge refuses a reconciliation or a void while a charge awaits the
// provider's outcome (a direct debit): it may still settle. Otherwise the request is
// queued and runs after the step under way, which then decides (e.g. paid meanwhile).
func (p *paymentV1) rejectPendingCharge() error {
	if p.s.InFlight != "" {
		return temporal.NewApplicationError("a charge awaits the provider's outcome for this invoice; try again when it is known", c.ErrChargeInFlight)
	}
	return nil
}

// enqueue hands a commandV1 to the main loop and waits for its result.
func (p *paymentV1) enqueue(ctx workflow.Context, cmd commandV1) (c.UpdateOutcome, error) {
	cmd.id = workflow.GetCurrentUpdateInfo(ctx).ID
	p.commands = append(p.commands, cmd)
	if err := workflow.Await(ctx, func() bool { _, ok := p.results[cmd.id]; return ok }); err != nil {
		return c.UpdateOutcome{}, err
	}
	r := p.results[cmd.id]
	delete(p.results, cmd.id)
	return r.outcome, r.err
}

func (p *paymentV1) run(ctx workflow.Context) (c.InvoicePaymentResult, error) {
	logger := workflow.GetLogger(ctx)
	if p.in.Carry == nil {
		snap, err := p.load(ctx)
		if err != nil {
			return c.InvoicePaymentResult{}, err
		}
		switch snap.Status {
		case "paid":
			p.setStatus(ctx, c.PaymentPaid, "already paid")
			return p.finish(ctx)
		case "voided":
			p.setStatus(ctx, c.PaymentVoided, "already voided")
			return p.finish(ctx)
		}
		if err := p.attempt(ctx); err != nil {
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
		if len(p.commands) > 0 {
			cmd := p.commands[0]
			p.commands = p.commands[1:]
			out, err := p.execute(ctx, cmd)
			p.results[cmd.id] = commandResultV1{outcome: out, err: err}
			continue
		}
		if len(p.s.PendingEvents) > 0 {
			ev := p.s.PendingEvents[0]
			p.s.PendingEvents = p.s.PendingEvents[1:]
			if err := p.applyEvent(ctx, ev); err != nil {
				return c.InvoicePaymentResult{}, err
			}
			continue
		}
		if p.s.PendingPaymentMethod {
			p.s.PendingPaymentMethod = false
			switch p.s.PaymentStatus {
			case c.PaymentRetryScheduled, c.PaymentAwaitingAction, c.PaymentErrored:
				logger.Info("new payment method: charging at once", "payment_method_id", p.s.LastPaymentMethodID)
				if err := p.attempt(ctx); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
			continue
		}
		now := workflow.Now(ctx)
		switch p.s.PaymentStatus {
		case c.PaymentRetryScheduled:
			if p.s.NextRetryAt != nil && !now.Before(*p.s.NextRetryAt) {
				if err := p.attempt(ctx); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
		case c.PaymentAwaitingAction:
			if p.s.Deadline != nil && !now.Before(*p.s.Deadline) {
				if err := p.errored(ctx, "no new payment method before the retry deadline"); err != nil {
					return c.InvoicePaymentResult{}, err
				}
			}
		}
		if p.shouldContinueAsNew(ctx) {
			// Let running Update handlers finish first; a queued commandV1 is run before.
			if err := workflow.Await(ctx, func() bool { return len(p.commands) > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
				return c.InvoicePaymentResult{}, err
			}
			if len(p.commands) == 0 && len(p.s.PendingEvents) == 0 && !p.s.PendingPaymentMethod {
				next := p.in
				carry := p.s
				next.Carry = &carry
				return c.InvoicePaymentResult{}, workflow.NewContinueAsNewError(ctx, c.InvoicePaymentWorkflow, next)
			}
		}
	}
}

func (p *paymentV1) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > historyLimitV1
}

// wait blocks until there is something to do: a command, a provider event, a new payment
// method, the next retry time, or the hard-decline deadline.
func (p *paymentV1) wait(ctx workflow.Context) error {
	ready := func() bool {
		return len(p.commands) > 0 || len(p.s.PendingEvents) > 0 || p.s.PendingPaymentMethod || p.shouldContinueAsNew(ctx)
	}
	var until *time.Time
	summary := ""
	switch p.s.PaymentStatus {
	case c.PaymentRetryScheduled:
		until = p.s.NextRetryAt
		if until != nil {
			summary = fmt.Sprintf("retry %d in %s", p.s.ChargeNumber+1, until.Sub(workflow.Now(ctx)).Round(time.Second))
		}
	case c.PaymentAwaitingAction:
		until = p.s.Deadline
		if until != nil {
			summary = fmt.Sprintf("wait for a new payment method until %s", until.UTC().Format(time.RFC3339))
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

func (p *paymentV1) finish(ctx workflow.Context) (c.InvoicePaymentResult, error) {
	// Answer the Updates accepted before the invoice closed (each is refused now: paid or
	// voided), and let every handler return before the workflow completes.
	for {
		for len(p.commands) > 0 {
			cmd := p.commands[0]
			p.commands = p.commands[1:]
			out, err := p.execute(ctx, cmd)
			p.results[cmd.id] = commandResultV1{outcome: out, err: err}
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

// execute runs one Update's commandV1 and returns its outcome.
func (p *paymentV1) execute(ctx workflow.Context, cmd commandV1) (c.UpdateOutcome, error) {
	if err := p.rejectClosed(); err != nil {
		return c.UpdateOutcome{}, err
	}
	switch cmd.kind {
	case c.UpdateRetry:
		before := len(p.s.Transactions)
		if err := p.attempt(ctx); err != nil {
			return c.UpdateOutcome{}, err
		}
		return p.outcome(p.lastChargeSince(before)), nil
	case c.UpdateReconcile:
		p.running = true
		defer func() { p.running = false }()
		var out steps.ChargeOutcome
		err := p.activity(ctx, dbActivityV1, "ReconcileInvoice", "reconcile "+cmd.reconcile.Amount+" ("+cmd.reconcile.Reference+")",
			steps.ReconcileInput{InvoiceID: p.in.InvoiceID, Key: cmd.id, Request: cmd.reconcile}, &out)
		if err != nil {
			return c.UpdateOutcome{}, err
		}
		p.absorb(out.Snapshot)
		if out.Snapshot.Settled {
			if err := p.markPaid(ctx); err != nil {
				return c.UpdateOutcome{}, err
			}
		}
		t := out.Transaction
		return p.outcome(&t), nil
	case c.UpdateVoid:
		p.running = true
		defer func() { p.running = false }()
		var closing steps.ClosingResult
		if err := p.activity(ctx, dbActivityV1, "VoidInvoice", "void invoice", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &closing); err != nil {
			return c.UpdateOutcome{}, err
		}
		var refunded any
		if err := p.activity(ctx, dbActivityV1, "RefundWalletDebits", "give wallet debits back", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &refunded); err != nil {
			return c.UpdateOutcome{}, err
		}
		if _, err := p.load(ctx); err != nil {
			return c.UpdateOutcome{}, err
		}
		p.s.NextRetryAt = nil
		p.setStatus(ctx, c.PaymentVoided, "voided")
		return p.outcome(nil), nil
	}
	return c.UpdateOutcome{}, temporal.NewApplicationError("unknown command "+cmd.kind, "unknown_command")
}

func (p *paymentV1) lastChargeSince(before int) *c.TransactionView {
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

func (p *paymentV1) outcome(t *c.TransactionView) c.UpdateOutcome {
	return c.UpdateOutcome{Transaction: t, InvoiceStatus: p.s.InvoiceStatus, PaymentStatus: p.s.PaymentStatus,
		AmountDue: p.s.AmountDue, AmountPaid: p.s.AmountPaid}
}

// attempt is one payment attempt: the wallet first, then a charge of the rest.
func (p *paymentV1) attempt(ctx workflow.Context) error {
	p.running = true
	defer func() { p.running = false }()
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
	if err := p.activity(ctx, dbActivityV1, "DebitWallet", fmt.Sprintf("wallet debit, attempt %d", n),
		steps.DebitWalletInput{InvoiceID: p.in.InvoiceID, Attempt: n}, &debited); err != nil {
		return err
	}
	snap, err := p.load(ctx)
	if err != nil {
		return err
	}
	if snap.Settled {
		p.running = false // the attempt is decided: what follows is bookkeeping
		return p.markPaid(ctx)
	}
	if p.in.Method == "bank_transfer" {
		var queued bool
		if err := p.activity(ctx, dbActivityV1, "QueueBankTransferEmail", "email bank transfer instructions",
			steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &queued); err != nil {
			return err
		}
		p.s.Deadline = nil
		p.running = false
		p.setStatus(ctx, c.PaymentAwaitingTransfer, fmt.Sprintf("a bank transfer of %s %s (reconciliation)", snap.AmountDue, snap.Currency))
		return p.saveSchedule(ctx)
	}

	var prep steps.PreparedCharge
	if err := p.activity(ctx, dbActivityV1, "PrepareCharge", fmt.Sprintf("prepare charge attempt %d", n),
		steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &prep); err != nil {
		return err
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
	var out steps.ChargeOutcome
	if prep.Transaction.Status == "pending" {
		label := prep.Method
		if prep.Last4 != "" {
			label += " •••• " + prep.Last4
		}
		err := p.activity(ctx, chargeActivityV1, "SendCharge", fmt.Sprintf("charge attempt %d (%s)", n, label),
			steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &out)
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
		case temporal.IsTimeoutError(err) || (errors.As(err, &appErr) && appErr.Type() == c.ErrProviderMisconfig):
			workflow.GetLogger(ctx).Warn("provider unreachable for the whole retry window", "error", err)
			if err := p.activity(ctx, dbActivityV1, "RecordProviderOutage", fmt.Sprintf("record provider outage, attempt %d", n),
				steps.ChargeRef{InvoiceID: p.in.InvoiceID, ChargeNumber: n}, &out); err != nil {
				return err
			}
		default:
			return err
		}
	} else {
		// Decided locally (no usable payment method, expired card).
		snap, err := p.load(ctx)
		if err != nil {
			return err
		}
		out = steps.ChargeOutcome{Transaction: prep.Transaction, Snapshot: snap}
	}
	// The charge is decided: a manual retry may queue behind the bookkeeping that follows
	// (a pending charge is refused by rejectPendingCharge instead).
	p.running = false
	return p.onChargeOutcome(ctx, out)
}

// onChargeOutcome moves the workflow on after a charge's answer.
func (p *paymentV1) onChargeOutcome(ctx workflow.Context, out steps.ChargeOutcome) error {
	p.absorb(out.Snapshot)
	t := out.Transaction
	switch t.Status {
	case "settled":
		p.s.InFlight = ""
		if out.Snapshot.Settled {
			return p.markPaid(ctx)
		}
		return nil
	case "pending":
		p.s.InFlight = t.Reference
		p.setStatus(ctx, c.PaymentProcessing, fmt.Sprintf("the provider's outcome of charge %s (%s)", t.ID, t.Reference))
		return p.saveSchedule(ctx)
	case "failed":
		p.s.InFlight = ""
		return p.onFailure(ctx, t)
	}
	return nil
}

// onFailure applies the retry rules to a failed charge.
func (p *paymentV1) onFailure(ctx workflow.Context, t c.TransactionView) error {
	wasErrored := p.s.InvoiceStatus == "error"
	if t.ErrorType != errProviderErrorV1 {
		p.s.FailedAttempts++
	}
	p.s.LastErrorType = t.ErrorType
	switch {
	case wasErrored:
		p.setStatus(ctx, c.PaymentErrored, fmt.Sprintf("a manual retry, a new payment method, a reconciliation or a void (last error: %s)", t.ErrorType))
		return p.saveSchedule(ctx)
	case t.ErrorType == errFraudV1:
		return p.errored(ctx, "fraud: never retried")
	case p.s.FailedAttempts >= p.s.MaxAttempts:
		return p.errored(ctx, fmt.Sprintf("all %d attempts failed", p.s.MaxAttempts))
	case t.HardDecline:
		if p.s.Deadline != nil && !workflow.Now(ctx).Before(*p.s.Deadline) {
			return p.errored(ctx, "hard decline after the retry deadline")
		}
		p.s.NextRetryAt = nil
		p.setStatus(ctx, c.PaymentAwaitingAction, fmt.Sprintf("a new payment method (%s) until %s", t.ErrorType, p.s.Deadline.UTC().Format(time.RFC3339)))
		return p.saveSchedule(ctx)
	}
	idx := p.s.FailedAttempts - 1
	if idx < 0 {
		idx = 0
	}
	if idx >= len(p.in.RetrySchedule) {
		idx = len(p.in.RetrySchedule) - 1
	}
	next := workflow.Now(ctx).Add(p.in.RetrySchedule[idx])
	p.s.NextRetryAt = &next
	p.setStatus(ctx, c.PaymentRetryScheduled, fmt.Sprintf("retry %d of %d at %s (last error: %s)",
		p.s.ChargeNumber+1, p.s.MaxAttempts, next.UTC().Format(time.RFC3339), t.ErrorType))
	return p.saveSchedule(ctx)
}

func (p *paymentV1) errored(ctx workflow.Context, why string) error {
	var closing steps.ClosingResult
	if err := p.activity(ctx, dbActivityV1, "MarkInvoiceErrored", "mark invoice error", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &closing); err != nil {
		return err
	}
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.setStatus(ctx, c.PaymentErrored, "a manual retry, a new payment method, a reconciliation or a void ("+why+")")
	return p.saveSchedule(ctx)
}

func (p *paymentV1) markPaid(ctx workflow.Context) error {
	var closing steps.ClosingResult
	if err := p.activity(ctx, dbActivityV1, "MarkInvoicePaid", "mark invoice paid", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &closing); err != nil {
		return err
	}
	p.s.InvoiceStatus = closing.InvoiceStatus
	p.s.NextRetryAt = nil
	p.s.InFlight = ""
	p.setStatus(ctx, c.PaymentPaid, "nothing: paid")
	return nil
}

// applyEvent applies a provider event (SEPA outcome) to the charge it is about.
func (p *paymentV1) applyEvent(ctx workflow.Context, ev c.ProviderEvent) error {
	p.running = true
	defer func() { p.running = false }()
	var out steps.ChargeOutcome
	if err := p.activity(ctx, dbActivityV1, "ApplyProviderEvent", "apply provider event "+ev.EventID+" ("+ev.Status+")",
		steps.ProviderEventInput{InvoiceID: p.in.InvoiceID, Event: ev}, &out); err != nil {
		return err
	}
	if out.Transaction.ID == "" || ev.Reference != p.s.InFlight {
		p.absorb(out.Snapshot)
		return nil
	}
	p.running = false
	return p.onChargeOutcome(ctx, out)
}

func (p *paymentV1) load(ctx workflow.Context) (steps.InvoiceSnapshot, error) {
	var snap steps.InvoiceSnapshot
	if err := p.activity(ctx, dbActivityV1, "LoadInvoice", "load invoice", steps.InvoiceRef{InvoiceID: p.in.InvoiceID}, &snap); err != nil {
		return snap, err
	}
	p.absorb(snap)
	return snap, nil
}

func (p *paymentV1) absorb(snap steps.InvoiceSnapshot) {
	if snap.InvoiceID == "" {
		return
	}
	p.s.InvoiceStatus, p.s.Currency, p.s.Total = snap.Status, snap.Currency, snap.Total
	p.s.AmountPaid, p.s.AmountDue, p.s.Transactions = snap.AmountPaid, snap.AmountDue, snap.Transactions
}

func (p *paymentV1) saveSchedule(ctx workflow.Context) error {
	return p.activity(ctx, dbActivityV1, "SetInvoiceSchedule", "record schedule",
		steps.ScheduleInput{InvoiceID: p.in.InvoiceID, Attempts: p.s.ChargeNumber, NextRetryAt: p.s.NextRetryAt}, nil)
}

func (p *paymentV1) activity(ctx workflow.Context, opts workflow.ActivityOptions, name, summary string, in, out any) error {
	opts.Summary = summary
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), name, in)
	if out == nil {
		return f.Get(ctx, nil)
	}
	return f.Get(ctx, out)
}

// setStatus records the payment status, keeps the search attributes current and tells the
// Web UI what the workflow waits for.
func (p *paymentV1) setStatus(ctx workflow.Context, status, waitingFor string) {
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
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s** — waiting for: %s\n\nattempts: %d charge(s), %d failed of %d allowed; due %s %s",
		status, waitingFor, p.s.ChargeNumber, p.s.FailedAttempts, p.s.MaxAttempts, p.s.AmountDue, p.s.Currency))
}
