// Package ledgertest holds what the wallet tests share: a fake payment provider (the PSP
// boundary, the only thing tests fake), the ledger invariant check that every scenario
// ends with, and small fixtures.
package ledgertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/customers"
	"payorch/ids"
	"payorch/payments"
)

// Payment-method provider ids the fake provider understands.
const (
	// PMSettle settles at once.
	PMSettle = "pm_card_visa"
	// PMDecline fails with payment_method_declined (insufficient funds).
	PMDecline = "pm_card_chargeDeclinedInsufficientFunds"
	// PMPending is a direct debit: pending, its outcome comes later as an event.
	PMPending = "pm_sim_sepa_settle"
	// PMBroken fails with a non-retryable provider error (bad credentials).
	PMBroken = "pm_fake_broken_credentials"
	// PMExpired is a card the provider declines as expired (a hard decline), though its
	// stored expiry date has not passed.
	PMExpired = "pm_card_chargeDeclinedExpiredCard"
)

// FakeProvider is an in-memory payments.Provider that honours idempotency keys like a real
// PSP: the same key always returns the first result, and only the first call captures
// money. It counts every call per key so tests can prove "never charged twice".
type FakeProvider struct {
	mu       sync.Mutex
	results  map[string]payments.ChargeResult
	captured map[string]decimal.Decimal
	calls    map[string]int
	outages  map[string]int
	// Gate, when set, is waited on by every charge (to hold a charge in flight).
	Gate chan struct{}
	seq  int
}

// NewFakeProvider returns an empty fake provider.
func NewFakeProvider() *FakeProvider {
	return &FakeProvider{results: map[string]payments.ChargeResult{}, captured: map[string]decimal.Decimal{},
		calls: map[string]int{}, outages: map[string]int{}}
}

// Name implements payments.Provider.
func (f *FakeProvider) Name() string { return "fake" }

// FailNext makes the next n charges on paymentMethodRef fail with a retryable provider
// error (an outage) before the provider answers normally.
func (f *FakeProvider) FailNext(paymentMethodRef string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outages[paymentMethodRef] = n
}

// Charge implements payments.Provider.
func (f *FakeProvider) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	if f.Gate != nil {
		select {
		case <-f.Gate:
		case <-ctx.Done():
			return payments.ChargeResult{}, &payments.ProviderError{Provider: "fake", Retryable: true, Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.IdempotencyKey == "" {
		return payments.ChargeResult{}, &payments.ProviderError{Provider: "fake", HTTPStatus: 400, Err: fmt.Errorf("no idempotency key")}
	}
	f.calls[req.IdempotencyKey]++
	if r, ok := f.results[req.IdempotencyKey]; ok {
		return r, nil
	}
	if n := f.outages[req.PaymentMethodRef]; n > 0 {
		f.outages[req.PaymentMethodRef] = n - 1
		return payments.ChargeResult{}, &payments.ProviderError{Provider: "fake", HTTPStatus: 503, Retryable: true, Err: fmt.Errorf("service unavailable")}
	}
	f.seq++
	ref := fmt.Sprintf("pi_fake_%d", f.seq)
	var r payments.ChargeResult
	switch req.PaymentMethodRef {
	case PMDecline:
		r = payments.ChargeResult{Status: payments.StatusFailed, Reference: ref, ErrorType: payments.ErrPaymentMethodDeclined,
			ProviderCode: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."}
	case PMPending:
		r = payments.ChargeResult{Status: payments.StatusPending, Reference: ref}
	case PMExpired:
		r = payments.ChargeResult{Status: payments.StatusFailed, Reference: ref, ErrorType: payments.ErrPaymentMethodExpired, HardDecline: true,
			ProviderCode: "expired_card", Message: "Your card has expired."}
	case PMBroken:
		return payments.ChargeResult{}, &payments.ProviderError{Provider: "fake", HTTPStatus: 401, Code: "invalid_api_key", Retryable: false, Err: fmt.Errorf("bad credentials")}
	default:
		r = payments.ChargeResult{Status: payments.StatusSettled, Reference: ref}
		f.captured[req.IdempotencyKey] = req.Amount
	}
	f.results[req.IdempotencyKey] = r
	return r, nil
}

// Calls returns how many times a key was sent (replays included).
func (f *FakeProvider) Calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

// Charges returns how many distinct charges the provider made (one per key).
func (f *FakeProvider) Charges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.results)
}

// Captured returns the money captured under a key (zero when none).
func (f *FakeProvider) Captured(key string) decimal.Decimal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captured[key]
}

// Result returns the stored result of a key.
func (f *FakeProvider) Result(key string) (payments.ChargeResult, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.results[key]
	return r, ok
}

// AssertBalanced checks the ledger invariants of every wallet in the database:
// balance = sum(credits) − sum(debits and expiries), balance ≥ 0, each row's balance_after
// equals the running sum in ledger order, and the unused rest of its expiring credits is
// at most the balance. Call it at the end of every scenario.
func AssertBalanced(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT w.id, w.balance,
		       COALESCE(sum(CASE WHEN t.type IN ('debit', 'expiry') THEN -t.amount ELSE t.amount END), 0) AS ledger,
		       count(t.id)
		FROM wallets w LEFT JOIN wallet_transactions t ON t.wallet_id = w.id
		GROUP BY w.id, w.balance`)
	if err != nil {
		t.Fatalf("ledger check: %v", err)
	}
	type wb struct {
		id              string
		balance, ledger decimal.Decimal
		n               int
	}
	var all []wb
	for rows.Next() {
		var r wb
		if err := rows.Scan(&r.id, &r.balance, &r.ledger, &r.n); err != nil {
			t.Fatalf("ledger check: %v", err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("ledger check: %v", err)
	}
	for _, r := range all {
		if !r.balance.Equal(r.ledger) {
			t.Fatalf("wallet %s: balance %s but the ledger sums to %s (%d rows)", r.id, r.balance, r.ledger, r.n)
		}
		if r.balance.IsNegative() {
			t.Fatalf("wallet %s: negative balance %s", r.id, r.balance)
		}
		var bad int
		if err := pool.QueryRow(ctx, `
			SELECT count(*) FROM (
				SELECT balance_after, sum(CASE WHEN type IN ('debit', 'expiry') THEN -amount ELSE amount END) OVER (ORDER BY seq) AS running
				FROM wallet_transactions WHERE wallet_id = $1) x
			WHERE balance_after <> running`, r.id).Scan(&bad); err != nil {
			t.Fatalf("ledger chain check: %v", err)
		}
		if bad != 0 {
			t.Fatalf("wallet %s: %d ledger rows whose balance_after is not the running sum", r.id, bad)
		}
		// Expiring credits: what is left of them is money the wallet holds.
		var lots decimal.Decimal
		if err := pool.QueryRow(ctx, `SELECT COALESCE(sum(remaining), 0) FROM wallet_credit_lots WHERE wallet_id = $1`, r.id).Scan(&lots); err != nil {
			t.Fatalf("credit lots check: %v", err)
		}
		if lots.GreaterThan(r.balance) {
			t.Fatalf("wallet %s: its expiring credits hold %s, more than its balance %s", r.id, lots, r.balance)
		}
	}
}

// Customer creates a customer in currency and returns its id.
func Customer(t testing.TB, pool *pgxpool.Pool, currency string) string {
	t.Helper()
	c, err := customers.NewService(pool).Create(context.Background(), customers.CreateInput{
		Name: "Ada", Email: "ada@example.com", Currency: currency,
	})
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	return c.ID
}

// DefaultMethod saves a default payment method: a card (valid until next year) for card
// ids, a direct debit for PMPending, and returns its id.
func DefaultMethod(t testing.TB, pool *pgxpool.Pool, customerID, providerID string) string {
	t.Helper()
	in := customers.PaymentMethodInput{Type: customers.TypeCard, ProviderID: &providerID, Default: ptr(true)}
	if providerID == PMPending {
		in.Type = customers.TypeDirectDebit
	} else {
		in.ExpMonth, in.ExpYear = ptr(int32(12)), ptr(int32(time.Now().Year()+1))
	}
	pm, err := customers.NewService(pool).AddPaymentMethod(context.Background(), customerID, in)
	if err != nil {
		t.Fatalf("add payment method: %v", err)
	}
	return pm.ID
}

// Invoice inserts a standard invoice (status to_pay) of total for the customer and
// returns its id (invoices are created by the invoice issue's API; tests insert them).
func Invoice(t testing.TB, pool *pgxpool.Pool, customerID, total string) string {
	t.Helper()
	id := ids.New(ids.Invoice)
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO invoices (id, customer_id, currency, payment_method, total)
		SELECT $1, id, currency, 'card', $3::numeric FROM customers WHERE id = $2`, id, customerID, total); err != nil {
		t.Fatalf("insert invoice: %v", err)
	}
	return id
}

// Count returns the number of rows of a table matching an optional WHERE clause.
func Count(t testing.TB, pool *pgxpool.Pool, table, where string, args ...any) int {
	t.Helper()
	q := "SELECT count(*) FROM " + table
	if strings.TrimSpace(where) != "" {
		q += " WHERE " + where
	}
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Balance returns a wallet's cached balance.
func Balance(t testing.TB, pool *pgxpool.Pool, walletID string) decimal.Decimal {
	t.Helper()
	var b decimal.Decimal
	if err := pool.QueryRow(context.Background(), "SELECT balance FROM wallets WHERE id = $1", walletID).Scan(&b); err != nil {
		t.Fatalf("balance: %v", err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }
