package invoices

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/ids"
	"payorch/money"
	"payorch/store"
)

// ReconcileInput is a payment received outside the PSP.
type ReconcileInput struct {
	// Key makes the reconciliation idempotent (the Update's id).
	Key       string
	Amount    decimal.Decimal
	Reference string
	PaidAt    time.Time
	// Method is bank_transfer or manual.
	Method string
	// Funding, when set, makes this a payment provider's report that its bank-transfer
	// funding Funding ("pi_…", "sbt_…") has received Amount in total so far: what that
	// adds to the invoice's reconciliations under the funding is recorded (reconcileFunding).
	Funding string
}

// PriorReconciliation returns the reconciliation the invoice already has under reference
// for amount, if any: a reference counts once per invoice, so the same reference and amount
// sent again is that reconciliation (Reconcile answers it too, while the invoice is open).
func (s *Service) PriorReconciliation(ctx context.Context, invoiceID, reference string, amount decimal.Decimal) (Transaction, bool, error) {
	ref := strings.TrimSpace(reference)
	if ref == "" {
		return Transaction{}, false, nil
	}
	prev, err := store.New(s.pool).GetReconciliationByReference(ctx, store.GetReconciliationByReferenceParams{InvoiceID: invoiceID, Reference: &ref})
	if store.IsNoRows(err) {
		return Transaction{}, false, nil
	}
	if err != nil {
		return Transaction{}, false, fmt.Errorf("get reconciliation %q: %w", ref, err)
	}
	if !prev.Amount.Equal(amount) {
		return Transaction{}, false, nil
	}
	return TransactionFromRow(prev), true, nil
}

// Reconcile records a manual payment (partial allowed): a settled transaction and the
// amount added to amount_paid, refused beyond the amount due. Idempotent per Key.
func (s *Service) Reconcile(ctx context.Context, invoiceID string, in ReconcileInput) (Transaction, error) {
	key := reconcileTxnKey(invoiceID, in.Key)
	var out Transaction
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := lockInvoice(ctx, q, invoiceID)
		if err != nil {
			return err
		}
		if prev, err := q.GetInvoiceTransactionByKey(ctx, &key); err == nil {
			out = TransactionFromRow(prev)
			return nil
		}
		if in.Funding != "" {
			if err := money.CheckScale(in.Amount, inv.Currency); err != nil || !in.Amount.IsPositive() {
				return apperr.InvalidParam("amount", "amount_invalid", "the amount must be positive with the currency's decimals")
			}
			out, err = s.reconcileFunding(ctx, q, inv, key, in)
			return err
		}
		// A reference counts once per invoice, whatever request carries it (a unique index
		// enforces it too): the same amount again is that reconciliation.
		if ref := strings.TrimSpace(in.Reference); ref != "" {
			prev, err := q.GetReconciliationByReference(ctx, store.GetReconciliationByReferenceParams{InvoiceID: invoiceID, Reference: &ref})
			if err == nil {
				if !prev.Amount.Equal(in.Amount) {
					return referenceReconciled(ref, prev.Amount, inv.Currency)
				}
				out = TransactionFromRow(prev)
				return nil
			}
			if !store.IsNoRows(err) {
				return fmt.Errorf("get reconciliation %q: %w", ref, err)
			}
		}
		if inv.Status != StatusToPay && inv.Status != StatusError {
			return &ClosedError{Status: inv.Status}
		}
		if err := money.CheckScale(in.Amount, inv.Currency); err != nil || !in.Amount.IsPositive() {
			return apperr.InvalidParam("amount", "amount_invalid", "the amount must be positive with the currency's decimals")
		}
		if in.Amount.GreaterThan(amountDue(inv)) {
			return fmt.Errorf("%w: %s > %s", ErrOverpayment, money.Format(in.Amount, inv.Currency), money.Format(amountDue(inv), inv.Currency))
		}
		method := in.Method
		if method == "" {
			method = "bank_transfer"
		}
		paidAt := in.PaidAt
		row, err := q.InsertInvoiceTransaction(ctx, store.InsertInvoiceTransactionParams{
			ID: ids.New(ids.Transaction), InvoiceID: inv.ID, Attempt: inv.AttemptCount, Method: method,
			Amount: in.Amount, Currency: inv.Currency, Status: "settled", IdempotencyKey: &key,
			Reference: nilIfEmpty(strings.TrimSpace(in.Reference)), PaidAt: &paidAt,
		})
		if err != nil {
			return fmt.Errorf("insert reconciliation: %w", err)
		}
		if _, err := q.AddInvoiceAmountPaid(ctx, store.AddInvoiceAmountPaidParams{ID: inv.ID, Amount: in.Amount}); err != nil {
			return fmt.Errorf("add amount paid: %w", err)
		}
		out = TransactionFromRow(row)
		return nil
	})
	return out, err
}
