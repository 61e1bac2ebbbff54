package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/ledger"
	"payorch/payments"
	"payorch/steps"
)

// Error types of the ledger activities' non-retryable failures.
const (
	// ErrLedgerNotFound: the load, wallet or invoice does not exist.
	ErrLedgerNotFound = "ledger_not_found"
	// ErrLedgerRefused: a ledger rule refused the operation (409/422 kinds).
	ErrLedgerRefused = "ledger_refused"
)

func (a *Activities) ledger() *ledger.Ledger {
	l := ledger.New(a.Pool)
	l.Now = a.now
	return l
}

// ledgerError turns the ledger's typed refusals into non-retryable activity failures;
// anything else goes through bridge (a database hiccup stays retryable, invalid data and
// misconfiguration do not).
func ledgerError(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := apperr.As(err); ok {
		switch e.Kind {
		case apperr.NotFound:
			return temporal.NewNonRetryableApplicationError(e.Message, ErrLedgerNotFound, err)
		case apperr.Invalid, apperr.Conflict, apperr.Rule:
			return temporal.NewNonRetryableApplicationError(e.Message, ErrLedgerRefused+":"+e.Code, err)
		}
	}
	return bridge(err)
}

// PrepareWalletLoad creates (once) the one-off invoice of a pending paid load and returns
// the load. A load that is no longer pending comes back as it is: do not charge it.
func (a *Activities) PrepareWalletLoad(ctx context.Context, in contracts.WalletLoadInput) (contracts.WalletLoadResult, error) {
	l, err := a.ledger().PrepareLoad(ctx, in.LoadID)
	return loadResult(l), ledgerError(err)
}

// loadResult is a load as the wallet-load workflow carries it.
func loadResult(l ledger.Load) contracts.WalletLoadResult {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return contracts.WalletLoadResult{ID: l.ID, Amount: l.Amount, Currency: l.Currency, Status: l.Status,
		ErrorType: deref(l.ErrorType), WalletTransactionID: deref(l.WalletTransactionID), InvoiceID: deref(l.InvoiceID)}
}

// ChargeWalletLoad charges a prepared paid load through the provider with the idempotency
// key <load_id>:charge, so a retry or a replay never charges twice. A decline is a result;
// an infrastructure failure (payments.ProviderError) is returned as a retryable error for
// the retry policy's backoff, unless the provider says no retry can fix it.
func (a *Activities) ChargeWalletLoad(ctx context.Context, in contracts.WalletLoadInput) (steps.LoadCharge, error) {
	if a.Provider == nil {
		return steps.LoadCharge{}, temporal.NewNonRetryableApplicationError("no payment provider configured", contracts.ErrProviderMisconfig, nil)
	}
	req, err := a.ledger().LoadChargeRequest(ctx, in.LoadID)
	if err != nil {
		return steps.LoadCharge{}, ledgerError(err)
	}
	res, err := a.Provider.Charge(ctx, req)
	if err != nil {
		var pe *payments.ProviderError
		if errors.As(err, &pe) && !pe.Retryable {
			return steps.LoadCharge{}, temporal.NewNonRetryableApplicationError(err.Error(), string(payments.ErrProviderError), err)
		}
		return steps.LoadCharge{}, err
	}
	return steps.LoadCharge{Status: string(res.Status), Reference: res.Reference, ErrorType: string(res.ErrorType),
		HardDecline: res.HardDecline, ProviderCode: res.ProviderCode, DeclineCode: res.DeclineCode, Message: res.Message}, nil
}

// CompleteWalletLoad records a load's charge outcome (ledger.CompleteLoad): settled →
// credited, invoice paid, receipt, events; failed → nothing credited; pending → waits for
// the provider's event. At most once per load: a repeated call changes nothing.
func (a *Activities) CompleteWalletLoad(ctx context.Context, in steps.CompleteWalletLoadInput) (contracts.WalletLoadResult, error) {
	r := in.Result
	l, err := a.ledger().CompleteLoad(ctx, in.LoadID, payments.ChargeResult{
		Status: payments.ChargeStatus(r.Status), Reference: r.Reference, ErrorType: payments.ErrorType(r.ErrorType),
		HardDecline: r.HardDecline, ProviderCode: r.ProviderCode, DeclineCode: r.DeclineCode, Message: r.Message})
	return loadResult(l), ledgerError(err)
}

// ResolveWalletLoadCharge applies a provider's asynchronous outcome (direct debit settled
// or failed) to the pending load with that charge reference (ledger.ResolvePendingLoad).
// Idempotent; a reference that is no load's fails with ErrLedgerNotFound.
func (a *Activities) ResolveWalletLoadCharge(ctx context.Context, ev payments.Event) (ledger.Load, error) {
	l, err := a.ledger().ResolvePendingLoad(ctx, ev)
	return l, ledgerError(err)
}

// ExpireCredit debits what is left of an expiring credit at its expiry
// (ledger.ExpireCredit with the workflow's clock): once per credit, nothing for a spent or
// reverted one; refused before expires_at (non-retryable).
func (a *Activities) ExpireCredit(ctx context.Context, in contracts.ExpireCreditInput) (contracts.CreditExpiryResult, error) {
	e, err := a.ledger().ExpireCredit(ctx, in.TransactionID, in.AsOf)
	if err != nil {
		return contracts.CreditExpiryResult{TransactionID: in.TransactionID}, ledgerError(err)
	}
	return contracts.CreditExpiryResult{TransactionID: in.TransactionID, Amount: e.Amount.String(),
		ExpiryTransactionID: e.TransactionID, Skipped: e.Skipped}, nil
}

// DebitWalletInput names one collection attempt of an invoice (shared with the invoice
// payment workflow through contracts).
type DebitWalletInput = steps.DebitWalletInput

// DebitWallet takes min(balance, amount_due) from the customer's wallet for the attempt
// (ledger.DebitForInvoice): idempotent per (invoice, attempt), it never changes the
// invoice's status.
func (a *Activities) DebitWallet(ctx context.Context, in DebitWalletInput) (steps.WalletDebit, error) {
	r, err := a.ledger().DebitForInvoice(ctx, in.InvoiceID, in.Attempt)
	return steps.WalletDebit{Amount: r.Amount.String(), WalletTransactionID: r.WalletTransactionID, Skipped: r.Skipped, Replayed: r.Replayed}, ledgerError(err)
}

// RefundWalletDebits gives a voided invoice's wallet debits back to the wallet
// (ledger.CreditBackInvoiceDebits), once per invoice.
func (a *Activities) RefundWalletDebits(ctx context.Context, in steps.InvoiceRef) (steps.WalletRefund, error) {
	r, err := a.ledger().CreditBackInvoiceDebits(ctx, in.InvoiceID)
	return steps.WalletRefund{Amount: r.Amount.String(), WalletTransactionID: r.WalletTransactionID}, ledgerError(err)
}

// RequestMonthlyTopUp makes a wallet's monthly auto load for the month of in.At
// (ledger.RequestMonthlyTopUp), once per wallet and month: a retried or repeated run gets
// the same load. No load (auto top-up off, no monthly_on, switched off, no automated
// payment method) is a result, with the reason.
func (a *Activities) RequestMonthlyTopUp(ctx context.Context, in steps.MonthlyTopUpInput) (steps.MonthlyTopUp, error) {
	r, err := a.ledger().RequestMonthlyTopUp(ctx, in.WalletID, in.At)
	if err != nil {
		return steps.MonthlyTopUp{}, ledgerError(err)
	}
	return steps.MonthlyTopUp{LoadID: r.Load.ID, CustomerID: r.Load.CustomerID, Status: r.Load.Status, Skipped: r.Skipped}, nil
}
