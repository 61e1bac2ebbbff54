package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/payments"
	"payorch/store"
)

// SourceLoadReversal is the source of the debit that takes a reversed load back.
const SourceLoadReversal = "load_reversal"

// LoadReversal is the reversal of a settled paid load, as the API returns it (in the load's
// "reversal" and as the data of wallet.load_reversed).
type LoadReversal struct {
	Object     string `json:"object"`
	LoadID     string `json:"load_id"`
	WalletID   string `json:"wallet_id"`
	CustomerID string `json:"customer_id"`
	// Reason is reversed (a SEPA return, a chargeback) or failed (a direct debit that failed
	// after it was reported settled).
	Reason       string `json:"reason"`
	ProviderCode string `json:"provider_code"`
	Message      string `json:"message"`
	// Amount is the load's amount: TakenBack from the wallet plus Invoiced.
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// TakenBack is what the wallet still held of it and gave back (never below zero).
	TakenBack string `json:"taken_back"`
	// Invoiced is the rest, owed on InvoiceID (a standard invoice, collected as usual).
	Invoiced            string    `json:"invoiced"`
	WalletTransactionID *string   `json:"wallet_transaction_id"`
	InvoiceID           *string   `json:"invoice_id"`
	CreatedAt           time.Time `json:"created_at"`
}

// ReverseLoad applies a provider's report that the charge of a settled paid load was taken
// back: ev.Status reversed (a SEPA return, a chargeback), or failed for a direct debit that
// had been reported settled. In one transaction, with the load and then the wallet locked:
// the wallet gives back what it still holds of the load (min(balance, amount); nothing when
// the load's credit was reverted already), as a debit with source load_reversal; the rest is
// owed on a new standard invoice (to the customer's default payment method), which the
// caller starts collecting (collection.StartInvoice; the sweeper starts it after a crash);
// the reversal is recorded and wallet.load_reversed emitted; a reversed auto load counts as
// a failed auto load (recordAutoTopUpFailure: the limit-th in a row switches the auto
// top-up off); the low-balance alert is evaluated. At most once per load (the
// reversal's primary key): a duplicate event returns the first reversal.
//
// handled is false when the event is not a reversal of a settled load: a failed event for a
// pending load (an ordinary failure: ResolvePendingLoad), or for a failed one. A reversed
// event for a load still pending is an error (delivered again once the settlement is in);
// for a failed load it is handled, with nothing to take back. No load with that reference:
// a 404 apperr.
func (l *Ledger) ReverseLoad(ctx context.Context, ev payments.Event) (rev LoadReversal, handled bool, err error) {
	if ev.Status != payments.StatusReversed && ev.Status != payments.StatusFailed {
		return LoadReversal{}, false, nil
	}
	if ev.Reference == "" {
		return LoadReversal{}, false, apperr.InvalidParam("reference", "parameter_missing", "the event has no charge reference")
	}
	err = l.inTx(ctx, func(q *store.Queries) error {
		ld, err := q.LockWalletLoadByChargeReference(ctx, &ev.Reference)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("wallet load with charge reference", ev.Reference)
		}
		if err != nil {
			return fmt.Errorf("lock load: %w", err)
		}
		switch {
		case ld.Status == LoadPending && ev.Status == payments.StatusReversed:
			return fmt.Errorf("provider event %s reverses load %s, which is not settled yet; deliver it again later", ev.ID, ld.ID)
		case ld.Status != LoadSettled || ld.WalletTransactionID == nil:
			handled = ev.Status == payments.StatusReversed
			return nil
		}
		handled = true
		prev, err := q.GetLoadReversal(ctx, ld.ID)
		if err == nil {
			rev = reversalView(prev)
			return nil
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("get reversal: %w", err)
		}
		w, err := lockWallet(ctx, q, ld.WalletID)
		if err != nil {
			return err
		}
		credit, err := q.GetWalletTransaction(ctx, store.GetWalletTransactionParams{ID: *ld.WalletTransactionID, WalletID: w.ID})
		if err != nil {
			return fmt.Errorf("get load credit: %w", err)
		}
		held := decimal.Min(w.Balance, ld.Amount)
		if credit.RevertedBy != nil {
			held = decimal.Zero // the revert took it back already
		}
		var debitID, invoiceID *string
		if held.IsPositive() {
			debit, err := q.DebitWallet(ctx, store.DebitWalletParams{
				ID: ids.New(ids.WalletTx), WalletID: w.ID, Amount: held, Source: SourceLoadReversal,
			})
			if err != nil {
				return fmt.Errorf("take back reversed load: %w", err)
			}
			debitID = &debit.ID
		}
		rest := ld.Amount.Sub(held)
		if rest.IsPositive() {
			method := "card"
			if pm, err := q.GetDefaultPaymentMethod(ctx, ld.CustomerID); err == nil {
				method = pm.Type
			} else if !store.IsNoRows(err) {
				return fmt.Errorf("default payment method: %w", err)
			} else if ld.PaymentMethodID != nil {
				if pm, err := q.GetPaymentMethod(ctx, *ld.PaymentMethodID); err == nil {
					method = pm.Type
				}
			}
			inv, err := q.LedgerCreateReversalInvoice(ctx, store.LedgerCreateReversalInvoiceParams{
				ID: ids.New(ids.Invoice), CustomerID: ld.CustomerID, Currency: ld.Currency, PaymentMethod: method, Total: rest,
			})
			if err != nil {
				return fmt.Errorf("create reversal invoice: %w", err)
			}
			desc := fmt.Sprintf("Reversed wallet top-up %s of %s %s (%s)", ld.ID, money.Format(ld.Amount, ld.Currency), ld.Currency, reversalWhy(ev))
			if err := q.LedgerCreateInvoiceLine(ctx, store.LedgerCreateInvoiceLineParams{
				InvoiceID: inv.ID, Position: 1, Description: desc, Amount: rest,
			}); err != nil {
				return fmt.Errorf("create reversal invoice line: %w", err)
			}
			invoiceID = &inv.ID
		}
		row, err := q.CreateLoadReversal(ctx, store.CreateLoadReversalParams{
			LoadID: ld.ID, WalletID: w.ID, CustomerID: ld.CustomerID, Provider: ev.Provider, EventID: ev.ID,
			Reason: string(ev.Status), ProviderCode: ev.ProviderCode, Message: ev.Message,
			Amount: ld.Amount, Currency: ld.Currency, TakenBack: held, Invoiced: rest,
			WalletTransactionID: debitID, InvoiceID: invoiceID,
		})
		if err != nil {
			return fmt.Errorf("record reversal: %w", err)
		}
		rev = reversalView(row)
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletLoadReversed, ResourceType: "wallet_load", ResourceID: ld.ID,
			CustomerID: ld.CustomerID, Data: rev,
		}); err != nil {
			return err
		}
		// What was taken back (and the invoice for the rest) lowered the projected balance.
		if err := l.CheckBalanceAlertTx(ctx, q, ld.CustomerID); err != nil {
			return err
		}
		if ld.AutoTopUp != nil {
			// A reversed auto load is a failed one (a bouncing SEPA mandate would otherwise
			// keep loading, each settlement resetting the count): counted as such, the
			// limit-th in a row switching the auto top-up off.
			var pm *store.PaymentMethod
			if ld.PaymentMethodID != nil {
				if p, err := q.GetPaymentMethod(ctx, *ld.PaymentMethodID); err == nil {
					pm = &p
				} else if !store.IsNoRows(err) {
					return fmt.Errorf("get payment method: %w", err)
				}
			}
			errType := string(ev.ErrorType)
			if errType == "" {
				errType = string(ev.Status)
			}
			why := "the auto load was " + string(ev.Status) + " after it settled: " + reversalWhy(ev)
			if err := l.recordAutoTopUpFailure(ctx, q, w.ID, why, errType, pm, deref(invoiceID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return LoadReversal{}, false, err
	}
	return rev, handled, nil
}

func reversalWhy(ev payments.Event) string {
	switch {
	case ev.Message != "":
		return ev.Message
	case ev.ProviderCode != "":
		return ev.ProviderCode
	case ev.Status == payments.StatusFailed:
		return "the direct debit failed after it settled"
	default:
		return "the payment was reversed"
	}
}

func reversalView(r store.WalletLoadReversal) LoadReversal {
	return LoadReversal{
		Object: "wallet_load_reversal", LoadID: r.LoadID, WalletID: r.WalletID, CustomerID: r.CustomerID,
		Reason: r.Reason, ProviderCode: r.ProviderCode, Message: r.Message,
		Amount: money.Format(r.Amount, r.Currency), Currency: r.Currency,
		TakenBack: money.Format(r.TakenBack, r.Currency), Invoiced: money.Format(r.Invoiced, r.Currency),
		WalletTransactionID: r.WalletTransactionID, InvoiceID: r.InvoiceID, CreatedAt: r.CreatedAt.UTC(),
	}
}
