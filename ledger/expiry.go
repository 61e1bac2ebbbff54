package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/ids"
	"payorch/outbox"
	"payorch/store"
)

// TypeExpiry is the ledger type of the debit that takes an expiring credit's unused rest
// (source expiry, original_transaction_id the credit).
const TypeExpiry = "expiry"

// SourceExpiry is the source of an expiry debit.
const SourceExpiry = "expiry"

// Reasons ExpireCredit debited nothing.
const (
	// ExpirySpent: the credit was used up by debits before it expired.
	ExpirySpent = "spent"
	// ExpiryReverted: the credit was reverted; a reverted credit does not expire again.
	ExpiryReverted = "reverted"
)

// Years an expires_at may lie in (as every date the API takes).
const (
	minExpiryYear = 2000
	maxExpiryYear = 2100
)

// checkExpiresAt applies the rules of a load's expires_at: only a free load may expire
// (400 parameter_invalid), within the years 2000–2100, and in the future (after now).
func checkExpiresAt(expiresAt *time.Time, typ string, now time.Time) error {
	if expiresAt == nil {
		return nil
	}
	if typ != LoadFree {
		return apperr.InvalidParam("expires_at", "parameter_invalid", "only a free load can expire: expires_at is for type free")
	}
	if y := expiresAt.UTC().Year(); y < minExpiryYear || y > maxExpiryYear {
		return apperr.InvalidParam("expires_at", "parameter_invalid", fmt.Sprintf("expires_at must lie between the years %d and %d", minExpiryYear, maxExpiryYear))
	}
	if !expiresAt.After(now) {
		return apperr.InvalidParam("expires_at", "parameter_invalid", "expires_at must be in the future")
	}
	return nil
}

// ExpiringCredit is an expiring credit (a free load with expires_at) whose expiry must be
// scheduled: its credit-expiry workflow sleeps until ExpiresAt.
type ExpiringCredit struct {
	// TransactionID is the credit's ledger row (wtx_…).
	TransactionID string
	WalletID      string
	CustomerID    string
	ExpiresAt     time.Time
}

// Expiry is what ExpireCredit did to an expiring credit.
type Expiry struct {
	// CreditTransactionID is the expiring credit.
	CreditTransactionID string `json:"credit_transaction_id"`
	WalletID            string `json:"wallet_id"`
	// Amount is what was debited: the credit's unused rest (zero when nothing was left).
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	// TransactionID is the expiry debit (type expiry), when Amount > 0.
	TransactionID string `json:"transaction_id,omitempty"`
	// Skipped says why nothing was debited: spent or reverted.
	Skipped string `json:"skipped,omitempty"`
	// Replayed is true when the credit had already expired: nothing new happened.
	Replayed bool `json:"replayed,omitempty"`
}

// ExpireCredit debits what is left of an expiring credit once its time has come (asOf, the
// expiry workflow's clock, at or after expires_at): a ledger row of type expiry (source
// expiry, original_transaction_id the credit) for the credit's unused rest, the lot closed,
// and wallet.credit_expired, in one transaction with the wallet row locked. A credit spent
// before it expired, or reverted, is closed with nothing debited (no event). At most once
// per credit: a later call returns the first outcome (Replayed); a unique index refuses a
// second expiry row. Refusals: an unknown credit or one that does not expire (404), asOf
// before expires_at (422 credit_not_expired).
func (l *Ledger) ExpireCredit(ctx context.Context, creditTxID string, asOf time.Time) (Expiry, error) {
	out := Expiry{CreditTransactionID: creditTxID, Amount: decimal.Zero}
	err := l.inTx(ctx, func(q *store.Queries) error {
		lot, err := q.GetCreditLot(ctx, creditTxID)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("expiring credit", creditTxID)
		}
		if err != nil {
			return fmt.Errorf("get credit lot: %w", err)
		}
		// The wallet first, as every debit does; then the lot as it now stands.
		w, err := lockWallet(ctx, q, lot.WalletID)
		if err != nil {
			return err
		}
		out.WalletID, out.Currency = w.ID, w.Currency
		if lot, err = q.LockCreditLot(ctx, creditTxID); err != nil {
			return fmt.Errorf("lock credit lot: %w", err)
		}
		if lot.ExpiredAt != nil {
			out.Replayed = true
			if lot.ExpiryTransactionID != nil {
				tx, err := q.GetWalletTransaction(ctx, store.GetWalletTransactionParams{ID: *lot.ExpiryTransactionID, WalletID: w.ID})
				if err != nil {
					return fmt.Errorf("get expiry: %w", err)
				}
				out.Amount, out.TransactionID = tx.Amount, tx.ID
			}
			return nil
		}
		if asOf.Before(lot.ExpiresAt) {
			return apperr.New(apperr.Rule, "credit_not_expired",
				fmt.Sprintf("credit %s expires at %s, not before", creditTxID, lot.ExpiresAt.UTC().Format(time.RFC3339)))
		}
		credit, err := q.GetWalletTransaction(ctx, store.GetWalletTransactionParams{ID: creditTxID, WalletID: w.ID})
		if err != nil {
			return fmt.Errorf("get credit: %w", err)
		}
		if credit.RevertedBy != nil || lot.Remaining.IsZero() {
			out.Skipped = ExpirySpent
			if credit.RevertedBy != nil {
				out.Skipped = ExpiryReverted
			}
			if _, err := q.CloseCreditLot(ctx, creditTxID); err != nil {
				return fmt.Errorf("close credit lot: %w", err)
			}
			return nil
		}
		tx, err := q.ExpireWalletCredit(ctx, store.ExpireWalletCreditParams{
			ID: ids.New(ids.WalletTx), WalletID: w.ID, Amount: lot.Remaining, OriginalTransactionID: creditTxID,
		})
		if store.IsNoRows(err) {
			// The lots never hold more than the balance: this is a broken invariant.
			return fmt.Errorf("expire credit %s: wallet %s does not cover the %s left of it", creditTxID, w.ID, lot.Remaining)
		}
		if err != nil {
			return fmt.Errorf("expire credit: %w", err)
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletCreditExpired, ResourceType: "wallet_transaction", ResourceID: tx.ID,
			CustomerID: w.CustomerID, Data: TransactionView(tx),
		}); err != nil {
			return err
		}
		out.Amount, out.TransactionID = tx.Amount, tx.ID
		// The expiry lowered the balance: the low-balance alert is evaluated in its transaction.
		return l.CheckBalanceAlertTx(ctx, q, w.CustomerID)
	})
	if err != nil {
		return Expiry{}, err
	}
	return out, nil
}

// ExpiringCreditOf returns an expiring credit by its transaction id (404 when the credit
// does not exist or does not expire).
func (l *Ledger) ExpiringCreditOf(ctx context.Context, creditTxID string) (ExpiringCredit, error) {
	q := store.New(l.pool)
	lot, err := q.GetCreditLot(ctx, creditTxID)
	if store.IsNoRows(err) {
		return ExpiringCredit{}, apperr.NotFoundf("expiring credit", creditTxID)
	}
	if err != nil {
		return ExpiringCredit{}, fmt.Errorf("get credit lot: %w", err)
	}
	w, err := q.GetWallet(ctx, lot.WalletID)
	if err != nil {
		return ExpiringCredit{}, fmt.Errorf("get wallet: %w", err)
	}
	return ExpiringCredit{TransactionID: lot.WalletTransactionID, WalletID: lot.WalletID, CustomerID: w.CustomerID, ExpiresAt: lot.ExpiresAt.UTC()}, nil
}

// UnscheduledExpiries lists open expiring credits whose expiry workflow is not known to be
// started, made more than grace ago (at most limit), for the sweeper.
func (l *Ledger) UnscheduledExpiries(ctx context.Context, grace time.Duration, limit int) ([]ExpiringCredit, error) {
	q := store.New(l.pool)
	lots, err := q.ListUnscheduledCreditExpiries(ctx, store.ListUnscheduledCreditExpiriesParams{
		GraceSeconds: grace.Seconds(), MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list unscheduled expiries: %w", err)
	}
	out := make([]ExpiringCredit, 0, len(lots))
	for _, lot := range lots {
		w, err := q.GetWallet(ctx, lot.WalletID)
		if err != nil {
			return nil, fmt.Errorf("get wallet: %w", err)
		}
		out = append(out, ExpiringCredit{TransactionID: lot.WalletTransactionID, WalletID: lot.WalletID, CustomerID: w.CustomerID, ExpiresAt: lot.ExpiresAt.UTC()})
	}
	return out, nil
}

// MarkExpiryScheduled records that a credit's expiry workflow is started, so the sweeper
// leaves it alone.
func (l *Ledger) MarkExpiryScheduled(ctx context.Context, creditTxID string) error {
	if err := store.New(l.pool).MarkCreditExpiryStarted(ctx, creditTxID); err != nil {
		return fmt.Errorf("mark expiry scheduled: %w", err)
	}
	return nil
}

// expiryRefusal refuses to revert a credit that has expired (its rest was already taken).
func expiryRefusal(ctx context.Context, q *store.Queries, credit store.WalletTransaction) error {
	lot, err := q.GetCreditLot(ctx, credit.ID)
	if store.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get credit lot: %w", err)
	}
	if lot.ExpiredAt != nil {
		return apperr.New(apperr.Rule, "credit_expired", fmt.Sprintf("%s expired at %s: its unused rest was already taken back",
			credit.ID, lot.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	return nil
}
