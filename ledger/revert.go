package ledger

import (
	"context"
	"fmt"

	"payorch/apperr"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/store"
)

// Revert takes a credit back out of the wallet: a debit (source revert) of the credited
// amount that names the original in original_transaction_id, and the original marked
// reverted_by it; a free load's credit note is voided; event wallet.transaction_reverted.
// Refusals: a debit (422 debit_not_revertable), an already reverted credit (409
// already_reverted), the credit of a load the provider reversed (409 load_reversed: the
// reversal took its money back already), a balance below the amount (422 insufficient_balance). Concurrent
// reverts of one transaction: exactly one wins (wallet row lock, conditional update and a
// unique index on original_transaction_id). A paid load's money is not refunded here.
// It returns the revert debit.
func (l *Ledger) Revert(ctx context.Context, walletID, txID string) (Transaction, error) {
	var out Transaction
	err := l.inTx(ctx, func(q *store.Queries) error {
		w, err := lockWallet(ctx, q, walletID)
		if err != nil {
			return err
		}
		orig, err := q.GetWalletTransaction(ctx, store.GetWalletTransactionParams{ID: txID, WalletID: walletID})
		if store.IsNoRows(err) {
			return apperr.NotFoundf("wallet transaction", txID)
		}
		if err != nil {
			return fmt.Errorf("get wallet transaction: %w", err)
		}
		if orig.Type == TypeDebit {
			return apperr.New(apperr.Rule, "debit_not_revertable", "only credits (loads) can be reverted; "+txID+" is a debit")
		}
		if orig.LoadID == nil {
			// A credit that gives a voided invoice's debits back is not a load: reverting it
			// would take the customer's money a second time.
			return apperr.New(apperr.Rule, "not_a_load", "only wallet loads can be reverted; "+txID+" gives back the debits of voided invoice "+deref(orig.InvoiceID))
		}
		if orig.RevertedBy != nil {
			return apperr.New(apperr.Conflict, "already_reverted", txID+" was already reverted by "+*orig.RevertedBy)
		}
		// A reversed load's money was taken back (or invoiced) already by its reversal: a
		// revert would take it a second time.
		if _, err := q.GetLoadReversal(ctx, *orig.LoadID); err == nil {
			return apperr.New(apperr.Conflict, "load_reversed", txID+" is the credit of load "+*orig.LoadID+", which the provider reversed: its money was taken back already")
		} else if !store.IsNoRows(err) {
			return fmt.Errorf("get load reversal: %w", err)
		}
		// An expired credit's rest was taken back already: a revert would take it twice.
		if err := expiryRefusal(ctx, q, orig); err != nil {
			return err
		}
		if w.Balance.LessThan(orig.Amount) {
			return apperr.New(apperr.Rule, "insufficient_balance", fmt.Sprintf("the balance (%s %s) does not cover the %s %s to revert",
				money.Format(w.Balance, w.Currency), w.Currency, money.Format(orig.Amount, orig.Currency), orig.Currency))
		}
		debit, err := q.DebitWallet(ctx, store.DebitWalletParams{
			ID: ids.New(ids.WalletTx), WalletID: walletID, Amount: orig.Amount, Source: SourceRevert,
			OriginalTransactionID: &orig.ID,
		})
		if store.IsNoRows(err) {
			return apperr.New(apperr.Rule, "insufficient_balance", "the balance does not cover the amount to revert")
		}
		if store.IsUniqueViolation(err, "wallet_transactions_original") {
			return apperr.New(apperr.Conflict, "already_reverted", txID+" was already reverted")
		}
		if err != nil {
			return fmt.Errorf("debit wallet: %w", err)
		}
		n, err := q.MarkWalletTransactionReverted(ctx, store.MarkWalletTransactionRevertedParams{ID: orig.ID, RevertedBy: &debit.ID})
		if err != nil {
			return fmt.Errorf("mark reverted: %w", err)
		}
		if n != 1 {
			return apperr.New(apperr.Conflict, "already_reverted", txID+" was already reverted")
		}
		if orig.Type == TypeCreditFree {
			if _, err := q.VoidCreditNote(ctx, orig.ID); err != nil {
				return fmt.Errorf("void credit note: %w", err)
			}
		}
		orig.RevertedBy = &debit.ID
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletTransactionReverted, ResourceType: "wallet_transaction", ResourceID: orig.ID,
			CustomerID: w.CustomerID, Data: map[string]any{"transaction": TransactionView(orig), "revert": TransactionView(debit)},
		}); err != nil {
			return err
		}
		if err := l.CheckBalanceAlertTx(ctx, q, w.CustomerID); err != nil {
			return err
		}
		out = TransactionView(debit)
		return nil
	})
	return out, err
}
