package ledger

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/ids"
	"payorch/outbox"
	"payorch/store"
)

// Reasons DebitForInvoice took nothing.
const (
	SkipNoWallet         = "no_wallet"
	SkipAutoDebitOff     = "auto_debit_off"
	SkipEmptyBalance     = "empty_balance"
	SkipNothingDue       = "nothing_due"
	SkipNotCollectable   = "invoice_not_collectable"
	SkipCurrencyMismatch = "currency_mismatch"
)

// DebitResult is what DebitForInvoice took from the wallet for one invoice attempt.
type DebitResult struct {
	InvoiceID string `json:"invoice_id"`
	Attempt   int    `json:"attempt"`
	// Amount is what the wallet paid; zero when nothing was taken.
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	// WalletID, WalletTransactionID and InvoiceTransactionID are set when Amount > 0.
	WalletID             string `json:"wallet_id,omitempty"`
	WalletTransactionID  string `json:"wallet_transaction_id,omitempty"`
	InvoiceTransactionID string `json:"invoice_transaction_id,omitempty"`
	// Replayed is true when an earlier call already debited this invoice and attempt: the
	// result is that first debit, nothing new was taken.
	Replayed bool `json:"replayed,omitempty"`
	// Skipped says why nothing was taken (no_wallet, auto_debit_off, empty_balance,
	// nothing_due, invoice_not_collectable, currency_mismatch).
	Skipped string `json:"skipped,omitempty"`
}

// WalletIdempotencyKey is the invoice transaction key of an attempt's wallet part.
func WalletIdempotencyKey(invoiceID string, attempt int) string {
	return invoiceID + ":wallet:" + strconv.Itoa(attempt)
}

// DebitForInvoice takes min(balance, amount_due) from the customer's wallet for one
// collection attempt of an invoice, when the wallet's auto_debit is on, its balance is
// positive and the invoice (kind standard) is to_pay or error with an amount due. In one
// transaction, with the invoice and wallet rows locked: a debit ledger row (source
// invoice, invoice id, attempt), an invoice transaction (method wallet, settled, key
// <invoice_id>:wallet:<attempt>), the invoice's amount_paid raised, and wallet.debited.
// It never changes the invoice's status.
//
// It is idempotent per (invoice, attempt): the first call's outcome — a debit, or nothing
// taken and why — is recorded (wallet_debit_attempts), and every later call returns it
// (Replayed) without looking at the wallet again; a unique index on the ledger refuses a
// second debit for the same invoice and attempt whatever happens.
func (l *Ledger) DebitForInvoice(ctx context.Context, invoiceID string, attempt int) (DebitResult, error) {
	out, err := l.debitOnce(ctx, invoiceID, attempt)
	if store.IsUniqueViolation(err, "") {
		// Lost a race the invoice lock should have prevented: the first call's outcome stands.
		out, err = l.debitOnce(ctx, invoiceID, attempt)
	}
	if err != nil {
		return DebitResult{}, err
	}
	return out, nil
}

func (l *Ledger) debitOnce(ctx context.Context, invoiceID string, attempt int) (DebitResult, error) {
	var out DebitResult
	err := l.inTx(ctx, func(q *store.Queries) error {
		var err error
		out, err = l.DebitTx(ctx, q, invoiceID, attempt)
		return err
	})
	return out, err
}

// DebitTx is DebitForInvoice inside the caller's transaction q (the invoice collection's
// first step runs it with the charge's preparation, in one transaction). It locks the
// invoice row, then the wallet's; the caller must not hold other wallet or invoice locks
// taken in another order. A unique violation (a concurrent call won) leaves the
// transaction aborted: the caller rolls back and calls again, and gets the recorded
// outcome.
func (l *Ledger) DebitTx(ctx context.Context, q *store.Queries, invoiceID string, attempt int) (DebitResult, error) {
	if attempt < 0 {
		return DebitResult{}, apperr.InvalidParam("attempt", "parameter_invalid", "attempt must be >= 0")
	}
	inv, err := q.LedgerLockInvoice(ctx, invoiceID)
	if store.IsNoRows(err) {
		return DebitResult{}, apperr.NotFoundf("invoice", invoiceID)
	}
	if err != nil {
		return DebitResult{}, fmt.Errorf("lock invoice: %w", err)
	}
	a := int32(attempt)
	prev, err := q.GetWalletDebitAttempt(ctx, store.GetWalletDebitAttemptParams{InvoiceID: invoiceID, Attempt: a})
	if err == nil {
		return DebitResult{InvoiceID: invoiceID, Attempt: attempt, Amount: prev.Amount, Currency: inv.Currency,
			WalletID: deref(prev.WalletID), WalletTransactionID: deref(prev.WalletTransactionID),
			InvoiceTransactionID: deref(prev.InvoiceTransactionID), Skipped: deref(prev.Skipped), Replayed: true}, nil
	}
	if !store.IsNoRows(err) {
		return DebitResult{}, fmt.Errorf("get debit attempt: %w", err)
	}
	out, err := l.debitLocked(ctx, q, inv, attempt)
	if err != nil {
		return DebitResult{}, err
	}
	_, err = q.RecordWalletDebitAttempt(ctx, store.RecordWalletDebitAttemptParams{
		InvoiceID: invoiceID, Attempt: a, WalletID: optional(out.WalletID), Amount: out.Amount,
		WalletTransactionID: optional(out.WalletTransactionID), InvoiceTransactionID: optional(out.InvoiceTransactionID),
		Skipped: optional(out.Skipped),
	})
	if err != nil {
		return DebitResult{}, fmt.Errorf("record debit attempt: %w", err)
	}
	return out, nil
}

// debitLocked decides and writes the debit of one attempt; the invoice row is locked.
func (l *Ledger) debitLocked(ctx context.Context, q *store.Queries, inv store.Invoice, attempt int) (DebitResult, error) {
	out := DebitResult{InvoiceID: inv.ID, Attempt: attempt, Amount: decimal.Zero, Currency: inv.Currency}
	due := inv.Total.Sub(inv.AmountPaid)
	switch {
	case inv.Kind != "standard" || (inv.Status != "to_pay" && inv.Status != "error"):
		out.Skipped = SkipNotCollectable
		return out, nil
	case !due.IsPositive():
		out.Skipped = SkipNothingDue
		return out, nil
	}
	w, err := q.LockWalletByCustomer(ctx, inv.CustomerID)
	if store.IsNoRows(err) {
		out.Skipped = SkipNoWallet
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("lock wallet: %w", err)
	}
	out.WalletID = w.ID
	switch {
	case w.Currency != inv.Currency:
		out.Skipped = SkipCurrencyMismatch
		return out, nil
	case !w.AutoDebit:
		out.Skipped = SkipAutoDebitOff
		return out, nil
	case !w.Balance.IsPositive():
		out.Skipped = SkipEmptyBalance
		return out, nil
	}
	take := decimal.Min(w.Balance, due)
	a := int32(attempt)
	tx, err := q.DebitWallet(ctx, store.DebitWalletParams{
		ID: ids.New(ids.WalletTx), WalletID: w.ID, Amount: take, Source: SourceInvoice,
		InvoiceID: &inv.ID, Attempt: &a,
	})
	if err != nil {
		return out, fmt.Errorf("debit wallet: %w", err)
	}
	now := l.Now()
	itx, err := q.LedgerCreateInvoiceTransaction(ctx, store.LedgerCreateInvoiceTransactionParams{
		ID: ids.New(ids.Transaction), InvoiceID: inv.ID, Attempt: a, Method: "wallet", Amount: take,
		Currency: inv.Currency, Status: "settled", IdempotencyKey: strptr(WalletIdempotencyKey(inv.ID, attempt)),
		ProviderReference: &tx.ID, PaidAt: &now,
	})
	if err != nil {
		return out, fmt.Errorf("record wallet payment: %w", err)
	}
	if _, err := q.LedgerAddInvoicePayment(ctx, store.LedgerAddInvoicePaymentParams{ID: inv.ID, Amount: take}); err != nil {
		return out, fmt.Errorf("add wallet payment to invoice: %w", err)
	}
	if _, err := outbox.Emit(ctx, q, outbox.Event{
		Type: outbox.WalletDebited, ResourceType: "wallet_transaction", ResourceID: tx.ID,
		CustomerID: inv.CustomerID, Data: TransactionView(tx),
	}); err != nil {
		return out, err
	}
	out.Amount, out.WalletTransactionID, out.InvoiceTransactionID = take, tx.ID, itx.ID
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreditBackResult is what CreditBackInvoiceDebits gave back to the wallet.
type CreditBackResult struct {
	InvoiceID string `json:"invoice_id"`
	// Amount is the sum of the invoice's wallet debits given back; zero when none.
	Amount              decimal.Decimal `json:"amount"`
	Currency            string          `json:"currency"`
	WalletID            string          `json:"wallet_id,omitempty"`
	WalletTransactionID string          `json:"wallet_transaction_id,omitempty"`
	// Replayed is true when the credit-back had already been made.
	Replayed bool `json:"replayed,omitempty"`
}

// CreditBackInvoiceDebits gives a voided invoice's wallet debits back to the wallet: a
// credit_paid transaction (source invoice_void, invoice id) for their sum, the invoice's
// amount_paid lowered by it and its wallet transactions cancelled, and wallet.credited,
// in one transaction. At most once per invoice (unique index); a second call returns the
// first credit (Replayed). A paid invoice is refused (409 invoice_paid).
func (l *Ledger) CreditBackInvoiceDebits(ctx context.Context, invoiceID string) (CreditBackResult, error) {
	out := CreditBackResult{InvoiceID: invoiceID, Amount: decimal.Zero}
	err := l.inTx(ctx, func(q *store.Queries) error {
		inv, err := q.LedgerLockInvoice(ctx, invoiceID)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("invoice", invoiceID)
		}
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		out.Currency = inv.Currency
		prev, err := q.GetInvoiceVoidCredit(ctx, &invoiceID)
		if err == nil {
			out.Amount, out.WalletID, out.WalletTransactionID, out.Replayed = prev.Amount, prev.WalletID, prev.ID, true
			return nil
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("get void credit: %w", err)
		}
		sums, err := q.SumInvoiceWalletDebits(ctx, &invoiceID)
		if err != nil {
			return fmt.Errorf("sum invoice debits: %w", err)
		}
		if len(sums) == 0 {
			return nil
		}
		if len(sums) > 1 {
			return fmt.Errorf("invoice %s was debited from %d wallets", invoiceID, len(sums))
		}
		if inv.Status == "paid" {
			return apperr.New(apperr.Conflict, "invoice_paid", "a paid invoice's wallet debits cannot be given back; void it first")
		}
		total := sums[0].Total
		if _, err := lockWallet(ctx, q, sums[0].WalletID); err != nil {
			return err
		}
		tx, err := q.CreditWallet(ctx, store.CreditWalletParams{
			ID: ids.New(ids.WalletTx), WalletID: sums[0].WalletID, Type: TypeCreditPaid, Amount: total,
			Source: SourceInvoiceVoid, InvoiceID: &invoiceID,
		})
		if err != nil {
			return fmt.Errorf("credit wallet: %w", err)
		}
		if _, err := q.LedgerSubtractInvoicePayment(ctx, store.LedgerSubtractInvoicePaymentParams{ID: invoiceID, Amount: total}); err != nil {
			return fmt.Errorf("lower invoice amount_paid: %w", err)
		}
		if err := q.LedgerCancelWalletInvoiceTransactions(ctx, invoiceID); err != nil {
			return fmt.Errorf("cancel wallet transactions: %w", err)
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletCredited, ResourceType: "wallet_transaction", ResourceID: tx.ID,
			CustomerID: inv.CustomerID, Data: TransactionView(tx),
		}); err != nil {
			return err
		}
		out.Amount, out.WalletID, out.WalletTransactionID = total, tx.WalletID, tx.ID
		return nil
	})
	if err != nil {
		return CreditBackResult{}, err
	}
	return out, nil
}
