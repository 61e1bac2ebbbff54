// Package ledger holds every money rule of the customer wallet: one wallet per customer,
// an append-only ledger of wallet transactions whose sum is the cached balance, loads
// (free, and paid ones charged by the WalletLoad workflow), portal limits, the debit of a
// wallet for an invoice, the credit-back of a voided invoice's debits, reverts, and the
// wallet automation (auto top-up and low-balance alert, automation.go).
//
// Every balance change is a single SQL statement that moves wallets.balance and appends
// the ledger row together (store.CreditWallet, store.DebitWallet); the database refuses a
// negative balance (CHECK), a second debit for the same invoice and attempt, a second
// revert of a transaction and any edit of a ledger row (unique indexes and a trigger).
// The API's synchronous paths and the workflow activities both call this package.
package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/money"
	"payorch/store"
)

// Transaction types.
const (
	TypeCreditPaid = "credit_paid"
	TypeCreditFree = "credit_free"
	TypeDebit      = "debit"
)

// Transaction and load sources.
const (
	SourceOperator    = "operator"
	SourceAPI         = "api"
	SourcePortal      = "portal"
	SourceInvoice     = "invoice"
	SourceInvoiceVoid = "invoice_void"
	SourceRevert      = "revert"
)

// Load types and statuses.
const (
	LoadPaid = "paid"
	LoadFree = "free"

	LoadPending = "pending"
	LoadSettled = "settled"
	LoadFailed  = "failed"
)

// Ledger reads and writes wallets. Its zero value is not usable: call New.
type Ledger struct {
	pool *pgxpool.Pool
	// PortalLimits bound loads made from the customer portal.
	PortalLimits PortalLimits
	// Now is the clock used for card expiry (time.Now in production).
	Now func() time.Time
}

// New returns a Ledger on pool with the default portal limits.
func New(pool *pgxpool.Pool) *Ledger {
	return &Ledger{pool: pool, PortalLimits: DefaultPortalLimits(), Now: time.Now}
}

// Settings are a wallet's options.
type Settings struct {
	// AutoDebit lets the wallet pay the customer's invoices automatically.
	AutoDebit bool `json:"auto_debit"`
	// PortalTopUp lets the customer load the wallet from the portal.
	PortalTopUp bool `json:"portal_top_up"`
	// AutoTopUp loads the wallet automatically (null: off); see DESIGN.md "Wallet automation".
	AutoTopUp *AutoTopUp `json:"auto_top_up"`
	// AlertBelow: wallet.balance_low is emitted once when the projected balance goes under
	// it, and again only after it has climbed back above (null: no alert).
	AlertBelow *string `json:"alert_below"`
}

// Wallet is a customer's wallet, as the API returns it.
type Wallet struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	CustomerID string `json:"customer_id"`
	Currency   string `json:"currency"`
	// Balance is the real-time balance (decimal string).
	Balance string `json:"balance"`
	// ProjectedBalance is the balance minus what is due in the current period; it can be negative.
	ProjectedBalance string `json:"projected_balance"`
	// BalanceLow is true when wallet.balance_low was sent and the projected balance has not
	// climbed back above alert_below since.
	BalanceLow bool      `json:"balance_low"`
	Settings   Settings  `json:"settings"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Transaction is one ledger row, as the API returns it.
type Transaction struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	WalletID string `json:"wallet_id"`
	// Type is credit_paid, credit_free, debit, or expiry (an expiring credit's unused rest
	// taken at its expiry; original_transaction_id is the credit).
	Type     string `json:"type"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// Source is operator, api, portal (loads), invoice (a debit), invoice_void (a voided
	// invoice's debits given back), revert, expiry or load_reversal (a reversed paid load
	// taken back).
	Source                string  `json:"source"`
	InvoiceID             *string `json:"invoice_id"`
	Attempt               *int32  `json:"attempt"`
	LoadID                *string `json:"load_id"`
	OriginalTransactionID *string `json:"original_transaction_id"`
	RevertedBy            *string `json:"reverted_by"`
	// BalanceAfter is the wallet's balance right after this transaction.
	BalanceAfter string    `json:"balance_after"`
	CreatedAt    time.Time `json:"created_at"`
}

// SettingsInput changes some settings; absent fields keep their value (or default).
type SettingsInput struct {
	AutoDebit   *bool `json:"auto_debit"`
	PortalTopUp *bool `json:"portal_top_up"`
	// AutoTopUp sets (an object) or removes (null) the auto top-up; setting it again turns
	// a switched-off one back on.
	AutoTopUp OptionalAutoTopUp `json:"auto_top_up"`
	// AlertBelow sets (a decimal string, zero or more) or removes (null) the low-balance
	// alert's threshold; changing it re-arms the alert (the same value again does not).
	AlertBelow OptionalAmount `json:"alert_below"`
}

// CreateWalletInput is the body of POST /v1/wallets.
type CreateWalletInput struct {
	CustomerID string         `json:"customer_id"`
	Settings   *SettingsInput `json:"settings"`
}

// UpdateWalletInput is the body of PATCH /v1/wallets/{id}.
type UpdateWalletInput struct {
	Settings *SettingsInput `json:"settings"`
}

// CreateWallet opens the customer's wallet, in the customer's currency. Defaults:
// auto_debit on, portal_top_up off (the merchant enables the portal explicitly).
func (l *Ledger) CreateWallet(ctx context.Context, in CreateWalletInput) (Wallet, error) {
	if in.CustomerID == "" {
		return Wallet{}, apperr.InvalidParam("customer_id", "parameter_missing", "customer_id is required")
	}
	s := Settings{AutoDebit: true}
	if in.Settings != nil {
		if in.Settings.AutoDebit != nil {
			s.AutoDebit = *in.Settings.AutoDebit
		}
		if in.Settings.PortalTopUp != nil {
			s.PortalTopUp = *in.Settings.PortalTopUp
		}
	}
	var out Wallet
	err := store.InTx(ctx, l.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A retry of the request that opened the wallet gets that one, not a 409.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Wallet, error) {
			return walletIn(ctx, q, id)
		})
		if err != nil || found {
			out = prev
			return err
		}
		cust, err := q.GetCustomer(ctx, in.CustomerID)
		if store.IsNoRows(err) {
			return &apperr.Error{Kind: apperr.NotFound, Code: "resource_missing", Param: "customer_id",
				Message: fmt.Sprintf("no customer with id %q", in.CustomerID)}
		}
		if err != nil {
			return fmt.Errorf("get customer: %w", err)
		}
		row, err := q.CreateWallet(ctx, store.CreateWalletParams{
			ID: ids.New(ids.Wallet), CustomerID: cust.ID, Currency: cust.Currency,
			AutoDebit: s.AutoDebit, PortalTopUp: s.PortalTopUp,
		})
		if store.IsUniqueViolation(err, "wallets_customer_id_key") {
			e := apperr.Exists("wallet_exists", fmt.Sprintf("customer %s already has a wallet", cust.ID), "")
			// The transaction is aborted; the holder is read outside it.
			if prev, err := store.New(l.pool).GetWalletByCustomer(ctx, cust.ID); err == nil {
				e.ExistingID = prev.ID
			}
			return e
		}
		if err != nil {
			return fmt.Errorf("create wallet: %w", err)
		}
		if err := l.applyAutomationSettings(ctx, q, row, in.Settings); err != nil {
			return err
		}
		if out, err = walletIn(ctx, q, row.ID); err != nil {
			return err
		}
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

// GetWallet returns a wallet with its balance and projected balance.
func (l *Ledger) GetWallet(ctx context.Context, id string) (Wallet, error) {
	return walletIn(ctx, store.New(l.pool), id)
}

// walletIn reads a wallet with its projected balance through q (the pool, or the caller's
// transaction).
func walletIn(ctx context.Context, q *store.Queries, id string) (Wallet, error) {
	row, err := q.GetWallet(ctx, id)
	if store.IsNoRows(err) {
		return Wallet{}, apperr.NotFoundf("wallet", id)
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("get wallet: %w", err)
	}
	projected, err := q.WalletProjectedBalance(ctx, id)
	if err != nil {
		return Wallet{}, fmt.Errorf("projected balance: %w", err)
	}
	return walletView(row, projected), nil
}

// ListParams filters and pages a wallet list (newest first).
type ListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor: only wallets older than it.
	BeforeSeq *int64
	// CustomerID filters on one customer (who has at most one wallet).
	CustomerID *string
}

// ListWallets returns a page of wallets with their balances, newest first, and the cursor
// of the next page (nil at the end).
func (l *Ledger) ListWallets(ctx context.Context, p ListParams) ([]Wallet, *int64, error) {
	q := store.New(l.pool)
	rows, err := q.ListWallets(ctx, store.ListWalletsParams{CustomerID: p.CustomerID, BeforeSeq: p.BeforeSeq, Lim: p.Limit + 1})
	if err != nil {
		return nil, nil, fmt.Errorf("list wallets: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Wallet) int64 { return r.Seq }, func(r store.Wallet) Wallet { return Wallet{ID: r.ID} })
	for i := range out {
		row := rows[i]
		projected, err := q.WalletProjectedBalance(ctx, row.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("projected balance: %w", err)
		}
		out[i] = walletView(row, projected)
	}
	return out, next, nil
}

// ProjectedBalance returns the wallet's projected balance (see DESIGN.md "Wallets").
func (l *Ledger) ProjectedBalance(ctx context.Context, walletID string) (decimal.Decimal, error) {
	d, err := store.New(l.pool).WalletProjectedBalance(ctx, walletID)
	if store.IsNoRows(err) {
		return decimal.Decimal{}, apperr.NotFoundf("wallet", walletID)
	}
	return d, err
}

// UpdateWallet changes a wallet's settings.
func (l *Ledger) UpdateWallet(ctx context.Context, id string, in UpdateWalletInput) (Wallet, error) {
	if in.Settings == nil {
		return Wallet{}, apperr.InvalidParam("settings", "parameter_missing", "settings is required")
	}
	st := in.Settings
	if st.AutoDebit == nil && st.PortalTopUp == nil && !st.AutoTopUp.Set && !st.AlertBelow.Set {
		return Wallet{}, apperr.InvalidParam("settings", "parameter_missing", "settings needs auto_debit, portal_top_up, auto_top_up or alert_below")
	}
	err := l.inTx(ctx, func(q *store.Queries) error {
		w, err := lockWallet(ctx, q, id)
		if err != nil {
			return err
		}
		if st.AutoDebit != nil || st.PortalTopUp != nil {
			if w, err = q.UpdateWalletSettings(ctx, store.UpdateWalletSettingsParams{
				ID: id, AutoDebit: st.AutoDebit, PortalTopUp: st.PortalTopUp,
			}); err != nil {
				return fmt.Errorf("update wallet: %w", err)
			}
		}
		return l.applyAutomationSettings(ctx, q, w, st)
	})
	if err != nil {
		return Wallet{}, err
	}
	return l.GetWallet(ctx, id)
}

// ListTransactions returns a page of a wallet's ledger, newest first, and the cursor of
// the next page (nil at the end).
func (l *Ledger) ListTransactions(ctx context.Context, walletID string, limit int32, beforeSeq *int64) ([]Transaction, *int64, error) {
	q := store.New(l.pool)
	if _, err := q.GetWallet(ctx, walletID); err != nil {
		if store.IsNoRows(err) {
			return nil, nil, apperr.NotFoundf("wallet", walletID)
		}
		return nil, nil, fmt.Errorf("get wallet: %w", err)
	}
	rows, err := q.ListWalletTransactions(ctx, store.ListWalletTransactionsParams{WalletID: walletID, BeforeSeq: beforeSeq, Lim: limit + 1})
	if err != nil {
		return nil, nil, fmt.Errorf("list wallet transactions: %w", err)
	}
	out, next := store.Page(rows, limit, func(r store.WalletTransaction) int64 { return r.Seq }, TransactionView)
	return out, next, nil
}

func walletView(w store.Wallet, projected decimal.Decimal) Wallet {
	return Wallet{
		ID: w.ID, Object: "wallet", CustomerID: w.CustomerID, Currency: w.Currency,
		Balance: money.Format(w.Balance, w.Currency), ProjectedBalance: money.Format(projected, w.Currency),
		BalanceLow: w.BalanceLow,
		Settings: Settings{AutoDebit: w.AutoDebit, PortalTopUp: w.PortalTopUp,
			AutoTopUp: autoTopUpView(w), AlertBelow: alertBelowView(w)},
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
	}
}

// TransactionView renders a ledger row as the API returns it.
func TransactionView(r store.WalletTransaction) Transaction {
	return Transaction{
		ID: r.ID, Object: "wallet_transaction", WalletID: r.WalletID, Type: r.Type,
		Amount: money.Format(r.Amount, r.Currency), Currency: r.Currency, Source: r.Source,
		InvoiceID: r.InvoiceID, Attempt: r.Attempt, LoadID: r.LoadID,
		OriginalTransactionID: r.OriginalTransactionID, RevertedBy: r.RevertedBy,
		BalanceAfter: money.Format(r.BalanceAfter, r.Currency), CreatedAt: r.CreatedAt.UTC(),
	}
}

// inTx runs fn in a transaction.
func (l *Ledger) inTx(ctx context.Context, fn func(q *store.Queries) error) error {
	return store.InTx(ctx, l.pool, func(q *store.Queries, _ pgx.Tx) error { return fn(q) })
}

// lockWallet locks a wallet row for the rest of the transaction.
func lockWallet(ctx context.Context, q *store.Queries, id string) (store.Wallet, error) {
	w, err := q.LockWallet(ctx, id)
	if store.IsNoRows(err) {
		return store.Wallet{}, apperr.NotFoundf("wallet", id)
	}
	if err != nil {
		return store.Wallet{}, fmt.Errorf("lock wallet: %w", err)
	}
	return w, nil
}

func strptr(s string) *string { return &s }
