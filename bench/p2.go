package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/customers"
	"payorch/ids"
	"payorch/ledger"
	"payorch/store"
)

// p2Amount is what each debit takes (each invoice's total).
const p2Amount = "0.01"

// runP2 measures ledger.DebitForInvoice on one hot wallet against a raw single-statement
// UPDATE at the same concurrency on the same PostgreSQL.
func runP2(ctx context.Context, e *benchEnv, k knobs) (result, error) {
	pool, err := store.OpenWith(ctx, e.DBURL, store.PoolOptions{MaxConns: int32(k.P2C + 2)})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	l := ledger.New(pool)
	hot, err := hotWallet(ctx, pool, l, "P2 ledger")
	if err != nil {
		return nil, err
	}
	raw, err := hotWallet(ctx, pool, l, "P2 raw")
	if err != nil {
		return nil, err
	}
	warm := min(k.P2C*4, k.P2N)
	prefix := ids.New(ids.Invoice) + "_"
	if _, err := pool.Exec(ctx, `
		INSERT INTO invoices (id, customer_id, currency, payment_method, total)
		SELECT $1 || g, $2, 'EUR', 'card', `+p2Amount+` FROM generate_series(1, $3::int) g`, prefix, hot.CustomerID, warm+k.P2N+max(1, k.P2N/4)); err != nil {
		return nil, err
	}
	debit := func(ctx context.Context, i int) error {
		r, err := l.DebitForInvoice(ctx, fmt.Sprint(prefix, i+1), 1)
		if err != nil {
			return err
		}
		if r.Amount.String() != p2Amount || r.Replayed {
			return fmt.Errorf("debit %d: %+v", i, r)
		}
		return nil
	}
	amt := decimal.RequireFromString(p2Amount)
	update := func(ctx context.Context, _ int) error {
		tag, err := pool.Exec(ctx, `UPDATE wallets SET balance = balance - $1 WHERE id = $2 AND balance >= $1`, amt, raw.ID)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("raw update changed %d rows", tag.RowsAffected())
		}
		return err
	}
	if _, _, err := loop(ctx, warm, k.P2C, debit); err != nil {
		return nil, err
	}
	if _, _, err := loop(ctx, warm, k.P2C, update); err != nil {
		return nil, err
	}
	ledgerElapsed, ledgerLat, err := loop(ctx, k.P2N, k.P2C, func(ctx context.Context, i int) error { return debit(ctx, warm+i) })
	if err != nil {
		return nil, err
	}
	rawElapsed, rawLat, err := loop(ctx, k.P2N, k.P2C, update)
	if err != nil {
		return nil, err
	}
	// The same serially (one at a time): the cost of one debit without lock waits.
	serialN := max(1, k.P2N/4)
	ledgerSerial, _, err := loop(ctx, serialN, 1, func(ctx context.Context, i int) error { return debit(ctx, warm+k.P2N+i) })
	if err != nil {
		return nil, err
	}
	rawSerial, _, err := loop(ctx, serialN, 1, update)
	if err != nil {
		return nil, err
	}
	if err := checkP2(ctx, e, hot.ID, prefix, warm+k.P2N+serialN); err != nil {
		return nil, err
	}
	lr, rr := float64(k.P2N)/ledgerElapsed.Seconds(), float64(k.P2N)/rawElapsed.Seconds()
	ls, rs := float64(serialN)/ledgerSerial.Seconds(), float64(serialN)/rawSerial.Seconds()
	return result{
		"ratio": round(lr/rr, 3), "ledger_debits_per_s": round(lr, 1), "raw_updates_per_s": round(rr, 1),
		"serial_ratio": round(ls/rs, 3), "serial_ledger_per_s": round(ls, 1), "serial_raw_per_s": round(rs, 1),
		"ledger_p50_ms": percentile(ledgerLat, 0.5), "ledger_p99_ms": percentile(ledgerLat, 0.99),
		"raw_p50_ms": percentile(rawLat, 0.5), "raw_p99_ms": percentile(rawLat, 0.99),
		"n": k.P2N, "concurrency": k.P2C,
	}, nil
}

// hotWallet creates a customer and a wallet holding a large free balance.
func hotWallet(ctx context.Context, pool *pgxpool.Pool, l *ledger.Ledger, name string) (ledger.Wallet, error) {
	cust, err := customers.NewService(pool).Create(ctx, customers.CreateInput{Name: name, Email: "hot@example.com", Currency: "EUR"})
	if err != nil {
		return ledger.Wallet{}, err
	}
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust.ID})
	if err != nil {
		return ledger.Wallet{}, err
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "1000000000", Type: ledger.LoadFree}); err != nil {
		return ledger.Wallet{}, err
	}
	return w, nil
}

// checkP2 checks every debit's bookkeeping from the database: one debit ledger row, one
// settled wallet invoice transaction, amount_paid raised, one wallet.debited event and one
// attempt record per invoice; the wallet's balance equals its ledger's sum.
func checkP2(ctx context.Context, e *benchEnv, walletID, prefix string, n int) error {
	like := prefix + "%"
	checks := []struct {
		what  string
		query string
		args  []any
		want  int64
	}{
		{"debit ledger rows", `SELECT count(*) FROM wallet_transactions WHERE wallet_id = $1 AND type = 'debit' AND amount = ` + p2Amount, []any{walletID}, int64(n)},
		{"wallet invoice transactions", `SELECT count(*) FROM invoice_transactions WHERE invoice_id LIKE $1 AND method = 'wallet' AND status = 'settled'`, []any{like}, int64(n)},
		{"invoices paid by the wallet", `SELECT count(*) FROM invoices WHERE id LIKE $1 AND amount_paid = total AND status = 'to_pay'`, []any{like}, int64(n)},
		{"attempt records", `SELECT count(*) FROM wallet_debit_attempts WHERE invoice_id LIKE $1 AND skipped IS NULL`, []any{like}, int64(n)},
		{"wallet.debited events", `SELECT count(*) FROM events WHERE type = 'wallet.debited' AND resource_id IN (SELECT id FROM wallet_transactions WHERE wallet_id = $1 AND type = 'debit')`, []any{walletID}, int64(n)},
		{"wallets whose balance is not their ledger's sum", `SELECT count(*) FROM wallets w WHERE w.id = $1 AND w.balance <> (SELECT coalesce(sum(CASE WHEN type = 'debit' THEN -amount ELSE amount END), 0) FROM wallet_transactions t WHERE t.wallet_id = w.id)`, []any{walletID}, 0},
	}
	for _, c := range checks {
		got, err := e.scalar(ctx, c.query, c.args...)
		if err != nil {
			return fmt.Errorf("check %s: %w", c.what, err)
		}
		if got != c.want {
			return fmt.Errorf("check failed: %s: %d, want %d", c.what, got, c.want)
		}
	}
	return nil
}
