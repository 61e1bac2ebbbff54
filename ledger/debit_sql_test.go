package ledger_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"payorch/ids"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/store"
)

// TestDebitEventIsTheTransactionView: the wallet.debited event the SQL debit writes carries
// exactly what ledger.TransactionView renders for its ledger row (amounts with the
// currency's decimals: 2 for EUR, 0 for JPY, 3 for KWD; created_at as Go writes it), so
// webhook receivers see the same shape whichever code wrote it.
func TestDebitEventIsTheTransactionView(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	for _, c := range []struct{ currency, load, total string }{
		{"EUR", "30.00", "12.50"}, {"JPY", "3000", "1250"}, {"KWD", "30.000", "12.125"}, {"EUR", "10.00", "12.50"},
	} {
		cust := ledgertest.Customer(t, pool, c.currency)
		w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: c.load, Type: ledger.LoadFree}); err != nil {
			t.Fatal(err)
		}
		inv := ledgertest.Invoice(t, pool, cust, c.total)
		r, err := l.DebitForInvoice(ctx, inv, 1)
		if err != nil || r.Amount.IsZero() {
			t.Fatalf("%s: %+v %v", c.currency, r, err)
		}
		row, err := store.New(pool).GetWalletTransaction(ctx, store.GetWalletTransactionParams{ID: r.WalletTransactionID, WalletID: w.ID})
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ledger.TransactionView(row))
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := pool.QueryRow(ctx, `SELECT data FROM events WHERE type = 'wallet.debited' AND resource_id = $1`, row.ID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		var gotMap, wantMap map[string]any
		if err := json.Unmarshal(got, &gotMap); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &wantMap); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotMap, wantMap) {
			t.Fatalf("%s: event data\n %s\nwant the transaction view\n %s", c.currency, got, want)
		}
	}
}

// TestDebitSkipsAnotherCurrency: a wallet in another currency than the invoice's pays
// nothing (currency_mismatch), names the wallet, and the outcome is recorded.
func TestDebitSkipsAnotherCurrency(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "30.00", Type: ledger.LoadFree}); err != nil {
		t.Fatal(err)
	}
	inv := ids.New(ids.Invoice)
	if _, err := pool.Exec(ctx, `INSERT INTO invoices (id, customer_id, currency, payment_method, total) VALUES ($1, $2, 'USD', 'card', 10)`, inv, cust); err != nil {
		t.Fatal(err)
	}
	r, err := l.DebitForInvoice(ctx, inv, 1)
	if err != nil || !r.Amount.IsZero() || r.Skipped != ledger.SkipCurrencyMismatch || r.WalletID != w.ID || r.Currency != "USD" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := l.DebitForInvoice(ctx, inv, 1); err != nil || !r.Replayed || r.Skipped != ledger.SkipCurrencyMismatch || r.WalletID != w.ID {
		t.Fatalf("replay: %+v %v", r, err)
	}
	if _, err := l.DebitForInvoice(ctx, "inv_nobody", 1); err == nil {
		t.Fatal("an unknown invoice was debited")
	}
	ledgertest.AssertBalanced(t, pool)
}
