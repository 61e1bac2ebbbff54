package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/invoices"
	"payorch/payments"
	"payorch/steps"
)

func (a *Activities) invoiceService() *invoices.Service {
	s := invoices.NewService(a.Pool)
	s.Now = a.now
	s.ProviderBankTransfers = a.BankTransfers != nil
	return s
}

// LoadInvoice returns the invoice's payment snapshot.
func (a *Activities) LoadInvoice(ctx context.Context, in steps.InvoiceRef) (steps.InvoiceSnapshot, error) {
	return a.snapshot(ctx, in.InvoiceID)
}

func (a *Activities) snapshot(ctx context.Context, invoiceID string) (steps.InvoiceSnapshot, error) {
	snap, err := a.invoiceService().GetSnapshot(ctx, invoiceID)
	if err != nil {
		return steps.InvoiceSnapshot{}, classify(err)
	}
	return snapshotView(snap), nil
}

func snapshotView(snap invoices.Snapshot) steps.InvoiceSnapshot {
	out := steps.InvoiceSnapshot{
		InvoiceID: snap.InvoiceID, CustomerID: snap.CustomerID, SubscriptionID: snap.SubscriptionID,
		Status: snap.Status, Currency: snap.Currency, Total: snap.Total, AmountPaid: snap.AmountPaid,
		AmountDue: snap.AmountDue, Settled: decimal.RequireFromString(snap.AmountDue).IsZero(),
		Transactions: make([]contracts.TransactionView, len(snap.Transactions)),
		Hold:         snap.Hold, HoldReason: snap.HoldReason,
	}
	for i, t := range snap.Transactions {
		out.Transactions[i] = t.View()
	}
	return out
}

func preparedView(start invoices.ChargeStart) steps.PreparedCharge {
	return steps.PreparedCharge{Transaction: start.Transaction.View(), Method: start.Method, Last4: start.Last4,
		NothingDue: start.NothingDue, Hold: start.Hold, HoldReason: start.HoldReason}
}

// StartAttempt is the first step of collection attempt n, as a local activity: the wallet
// first, then what follows from it, in one transaction (invoices.BeginAttempt) — the
// invoice marked paid when the wallet covered it, a bank transfer's instructions queued,
// or the pending charge of the rest prepared for ChargeAttempt. Idempotent per (invoice, n).
func (a *Activities) StartAttempt(ctx context.Context, in steps.StartAttemptInput) (steps.AttemptStart, error) {
	st, err := a.invoiceService().BeginAttempt(ctx, in.InvoiceID, in.Attempt, in.Manual)
	if err != nil {
		return steps.AttemptStart{}, classify(err)
	}
	if st.BankTransfer && a.BankTransfers != nil {
		if err := a.provideBankTransfer(ctx, in.InvoiceID); err != nil {
			return steps.AttemptStart{}, err
		}
	}
	out := steps.AttemptStart{Snapshot: snapshotView(st.Snapshot), Closed: st.Closed, Hold: st.Hold, HoldReason: st.HoldReason,
		WalletPaid: st.Wallet.Amount.String(), BankTransfer: st.BankTransfer, Charge: preparedView(st.Charge)}
	if st.Paid != nil {
		paid := steps.ClosingResult(*st.Paid)
		out.Paid = &paid
	}
	return out, nil
}

// ChargeAttempt sends charge n to the provider with the idempotency key
// <invoice_id>:attempt:<n> and records the answer — and, when it paid what was due, the
// invoice's paid status — in one transaction (invoices.RecordChargeOutcome). An
// infrastructure failure is returned as a retryable error (the same key is resent, so the
// customer is never charged twice); a decline is a result.
func (a *Activities) ChargeAttempt(ctx context.Context, in steps.ChargeRef) (steps.ChargeOutcome, error) {
	svc := a.invoiceService()
	start, err := svc.StartCharge(ctx, in.InvoiceID, in.ChargeNumber)
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	if start.Hold != "" || start.NothingDue || start.Transaction.Status != "pending" || start.Request.IdempotencyKey == "" {
		// Decided before (a retried activity whose first run recorded the answer).
		snap, err := a.snapshot(ctx, in.InvoiceID)
		return steps.ChargeOutcome{Transaction: start.Transaction.View(), Snapshot: snap}, err
	}
	res, err := a.charge(ctx, start.Request)
	if err != nil {
		return steps.ChargeOutcome{}, err
	}
	rec, err := svc.RecordChargeOutcome(ctx, in.InvoiceID, start.Transaction.ID, res)
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	out := steps.ChargeOutcome{Transaction: rec.Transaction.View(), Snapshot: snapshotView(rec.Snapshot)}
	if rec.Paid != nil {
		paid := steps.ClosingResult(*rec.Paid)
		out.Paid = &paid
	}
	return out, nil
}

// charge sends a charge request to the provider; its failures become the activity errors
// the workflow understands (ErrProviderMisconfig: no retry heals it; ErrProviderUnavailable:
// retryable).
func (a *Activities) charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	if a.Provider == nil {
		return payments.ChargeResult{}, temporal.NewNonRetryableApplicationError("no payment provider is configured", contracts.ErrProviderMisconfig, nil)
	}
	res, err := a.Provider.Charge(ctx, req)
	if err != nil {
		var pe *payments.ProviderError
		if errors.As(err, &pe) && !pe.Retryable {
			return res, temporal.NewNonRetryableApplicationError(
				"the payment provider refused the request: "+err.Error(), contracts.ErrProviderMisconfig, err)
		}
		return res, temporal.NewApplicationErrorWithCause(
			fmt.Sprintf("charge %s: %v", req.IdempotencyKey, err), contracts.ErrProviderUnavailable, err)
	}
	return res, nil
}

// PrepareCharge creates (once) the pending transaction of charge n, so the workflow can
// label the charge (method, last 4 digits) before the provider is called.
func (a *Activities) PrepareCharge(ctx context.Context, in steps.ChargeRef) (steps.PreparedCharge, error) {
	start, err := a.invoiceService().StartCharge(ctx, in.InvoiceID, in.ChargeNumber)
	if err != nil {
		return steps.PreparedCharge{}, classify(err)
	}
	return preparedView(start), nil
}

// SendCharge sends charge n to the provider with the idempotency key
// <invoice_id>:attempt:<n> and records the answer. An infrastructure failure is returned
// as a retryable error (the activity's retry policy backs off; the same key is resent, so
// the customer is never charged twice); a decline is a result.
func (a *Activities) SendCharge(ctx context.Context, in steps.ChargeRef) (steps.ChargeOutcome, error) {
	svc := a.invoiceService()
	start, err := svc.StartCharge(ctx, in.InvoiceID, in.ChargeNumber)
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	txn := start.Transaction
	if start.Hold == "" && !start.NothingDue && txn.Status == "pending" && start.Request.IdempotencyKey != "" {
		res, err := a.charge(ctx, start.Request)
		if err != nil {
			return steps.ChargeOutcome{}, err
		}
		txn, err = svc.RecordChargeResult(ctx, txn.ID, res)
		if err != nil {
			return steps.ChargeOutcome{}, classify(err)
		}
	}
	snap, err := a.snapshot(ctx, in.InvoiceID)
	if err != nil {
		return steps.ChargeOutcome{}, err
	}
	return steps.ChargeOutcome{Transaction: txn.View(), Snapshot: snap}, nil
}

// RecordProviderOutage fails charge n with provider_error after the provider stayed
// unreachable for the activity's whole retry window.
func (a *Activities) RecordProviderOutage(ctx context.Context, in steps.ChargeRef) (steps.ChargeOutcome, error) {
	return a.failWithProviderError(ctx, in.InvoiceID, in.ChargeNumber, "provider_unreachable",
		"the payment provider could not be reached during the whole retry window")
}

// RecordProviderFailure fails charge n with provider_error after the provider refused it
// in a way no retry can heal (revoked credentials, a misconfigured account): one failed
// transaction, one invoice.transaction_failed; the workflow then waits for an operator.
func (a *Activities) RecordProviderFailure(ctx context.Context, in steps.ProviderFailureInput) (steps.ChargeOutcome, error) {
	code := in.Code
	if code == "" {
		code = "provider_refused"
	}
	return a.failWithProviderError(ctx, in.InvoiceID, in.ChargeNumber, code, in.Message)
}

// failWithProviderError records charge n, if still pending, as failed with provider_error
// (once: a retried activity finds it decided).
func (a *Activities) failWithProviderError(ctx context.Context, invoiceID string, n int, code, message string) (steps.ChargeOutcome, error) {
	svc := a.invoiceService()
	start, err := svc.StartCharge(ctx, invoiceID, n)
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	txn := start.Transaction
	if txn.ID != "" && txn.Status == "pending" {
		txn, err = svc.RecordChargeResult(ctx, txn.ID, payments.ChargeResult{Status: payments.StatusFailed,
			ErrorType: payments.ErrProviderError, ProviderCode: code, Message: message})
		if err != nil {
			return steps.ChargeOutcome{}, classify(err)
		}
	}
	snap, err := a.snapshot(ctx, invoiceID)
	return steps.ChargeOutcome{Transaction: txn.View(), Snapshot: snap}, err
}

// ApplyProviderEvent applies an asynchronous provider outcome (SEPA settled or failed).
func (a *Activities) ApplyProviderEvent(ctx context.Context, in steps.ProviderEventInput) (steps.ChargeOutcome, error) {
	ev := in.Event
	res := payments.ChargeResult{Status: payments.ChargeStatus(ev.Status), Reference: ev.Reference,
		ErrorType: payments.ErrorType(ev.ErrorType), HardDecline: ev.HardDecline, ProviderCode: ev.ProviderCode,
		DeclineCode: ev.DeclineCode, Message: ev.Message}
	txn, found, err := a.invoiceService().ApplyProviderEvent(ctx, ev.Reference, res)
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	snap, err := a.snapshot(ctx, in.InvoiceID)
	if err != nil {
		return steps.ChargeOutcome{}, err
	}
	out := steps.ChargeOutcome{Snapshot: snap}
	if found {
		out.Transaction = txn.View()
	}
	return out, nil
}

// MarkInvoicePaid marks the invoice paid (and reactivates its subscription inside its period).
func (a *Activities) MarkInvoicePaid(ctx context.Context, in steps.InvoiceRef) (steps.ClosingResult, error) {
	c, err := a.invoiceService().MarkPaid(ctx, in.InvoiceID, a.now())
	return steps.ClosingResult(c), classify(err)
}

// MarkInvoiceErrored marks the invoice error and its subscription errored.
func (a *Activities) MarkInvoiceErrored(ctx context.Context, in steps.InvoiceRef) (steps.ClosingResult, error) {
	c, err := a.invoiceService().MarkErrored(ctx, in.InvoiceID)
	return steps.ClosingResult(c), classify(err)
}

// ReconcileInvoice records a manual payment, or what a provider's bank-transfer funding
// report adds (Request.Funding set); idempotent per key.
func (a *Activities) ReconcileInvoice(ctx context.Context, in steps.ReconcileInput) (steps.ChargeOutcome, error) {
	amount, err := decimal.NewFromString(in.Request.Amount)
	if err != nil {
		return steps.ChargeOutcome{}, temporal.NewNonRetryableApplicationError("amount is not a decimal", contracts.ErrInvalidReconcile, err)
	}
	txn, err := a.invoiceService().Reconcile(ctx, in.InvoiceID, invoices.ReconcileInput{
		Key: in.Key, Amount: amount, Reference: in.Request.Reference, PaidAt: in.Request.PaidAt, Method: in.Request.Method,
		Funding: in.Request.Funding})
	if err != nil {
		return steps.ChargeOutcome{}, classify(err)
	}
	snap, err := a.snapshot(ctx, in.InvoiceID)
	return steps.ChargeOutcome{Transaction: txn.View(), Snapshot: snap}, err
}

// VoidInvoice closes the invoice as voided and records why.
func (a *Activities) VoidInvoice(ctx context.Context, in steps.VoidInput) (steps.ClosingResult, error) {
	c, err := a.invoiceService().Void(ctx, in.InvoiceID, in.Reason)
	return steps.ClosingResult(c), classify(err)
}

// SetInvoiceSchedule records the attempt count and next retry on the invoice.
func (a *Activities) SetInvoiceSchedule(ctx context.Context, in steps.ScheduleInput) error {
	return classify(a.invoiceService().SetSchedule(ctx, in.InvoiceID, in.Attempts, in.NextRetryAt))
}

// QueueBankTransferEmail queues (once) the email with bank transfer instructions: the
// provider's account when the provider takes bank transfers (provideBankTransfer).
func (a *Activities) QueueBankTransferEmail(ctx context.Context, in steps.InvoiceRef) (bool, error) {
	if a.BankTransfers != nil {
		return true, a.provideBankTransfer(ctx, in.InvoiceID)
	}
	ok, err := a.invoiceService().QueueBankTransferEmail(ctx, in.InvoiceID)
	return ok, classify(err)
}

// classify turns domain errors that no retry can fix into non-retryable application
// errors with a type the workflow and the API understand; anything else goes through
// bridge (database data errors and misconfiguration are non-retryable too).
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, invoices.ErrOverpayment):
		return temporal.NewNonRetryableApplicationError(err.Error(), contracts.ErrAmountExceedsDue, err)
	}
	var closed *invoices.ClosedError
	if errors.As(err, &closed) {
		typ := contracts.ErrInvoiceVoided
		if closed.Status == invoices.StatusPaid {
			typ = contracts.ErrInvoicePaid
		}
		return temporal.NewNonRetryableApplicationError(err.Error(), typ, err)
	}
	if e, ok := apperr.As(err); ok {
		switch e.Kind {
		case apperr.Conflict:
			if e.Code == contracts.ErrReferenceReconciled {
				return temporal.NewNonRetryableApplicationError(e.Message, e.Code, err)
			}
		case apperr.NotFound:
			return temporal.NewNonRetryableApplicationError(e.Message, contracts.ErrInvoiceNotFound, err)
		case apperr.Invalid, apperr.Rule:
			return temporal.NewNonRetryableApplicationError(e.Message, contracts.ErrInvalidReconcile, err)
		}
	}
	return bridge(err)
}

// bankTransferCallTimeout bounds the provider call of provideBankTransfer, which runs
// inside StartAttempt's local activity (30 s).
const bankTransferCallTimeout = 20 * time.Second

// provideBankTransfer has the provider take a bank-transfer invoice's payment: it asks for
// the funding (idempotent per invoice: invoices.BankTransferIdempotencyKey) and records it
// with the instructions email, once. A provider that takes no bank transfer for this
// invoice (its currency, a customer it does not know) falls back to the merchant's own
// account and manual reconciliation; a provider that refuses for good (bank transfers not
// enabled on the account) is misconfiguration (the workflow parks in awaiting_action with
// the reason); an outage is retried.
func (a *Activities) provideBankTransfer(ctx context.Context, invoiceID string) error {
	svc := a.invoiceService()
	req, done, err := svc.BankTransferRequest(ctx, invoiceID)
	if err != nil || done {
		return classify(err)
	}
	cctx, cancel := context.WithTimeout(ctx, bankTransferCallTimeout)
	defer cancel()
	ins, err := a.BankTransfers.RequestBankTransfer(cctx, req)
	var pe *payments.ProviderError
	switch {
	case err == nil:
		return classify(svc.RecordBankTransfer(ctx, invoiceID, ins))
	case errors.Is(err, payments.ErrBankTransferUnsupported):
		_, qerr := svc.QueueBankTransferEmail(ctx, invoiceID)
		return classify(qerr)
	case errors.Is(err, payments.ErrInvalidChargeRequest), errors.As(err, &pe) && !pe.Retryable:
		return temporal.NewNonRetryableApplicationError(
			"the payment provider refused the bank transfer: "+err.Error(), contracts.ErrMisconfigured, err)
	}
	return temporal.NewApplicationErrorWithCause("the payment provider is unavailable for the bank transfer: "+err.Error(),
		contracts.ErrProviderUnavailable, err)
}
