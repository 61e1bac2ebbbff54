package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/internal/testenv"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
	"payorch/store"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, testenv.Options{}) }

func ptr[T any](v T) *T { return &v }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fixture is a ledger on a fresh database with one EUR customer and wallet.
type fixture struct {
	t        *testing.T
	pool     *pgxpool.Pool
	l        *ledger.Ledger
	customer string
	wallet   string
}

func newFixture(t *testing.T, settings ledger.SettingsInput) *fixture {
	t.Helper()
	pool, _ := env.Postgres.NewPool(t)
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := l.CreateWallet(context.Background(), ledger.CreateWalletInput{CustomerID: cust, Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, pool: pool, l: l, customer: cust, wallet: w.ID}
	t.Cleanup(func() { ledgertest.AssertBalanced(t, pool) })
	return f
}

func (f *fixture) free(amount string) ledger.Load {
	f.t.Helper()
	ld, err := f.l.RequestLoad(context.Background(), f.wallet, ledger.LoadInput{Amount: amount, Type: ledger.LoadFree})
	if err != nil {
		f.t.Fatal(err)
	}
	return ld
}

func (f *fixture) balance() string { return ledgertest.Balance(f.t, f.pool, f.wallet).StringFixed(2) }

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}

// TestPortalRules: the portal option, the per-payment limit and the balance limit
// (counting loads in flight), each refusal writing nothing; configurable limits.
func TestPortalRules(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)

	_, err := f.l.RequestPortalLoad(ctx, f.wallet, "10.00")
	if code(err) != "portal_top_up_disabled" || !apperr.IsKind(err, apperr.Rule) {
		t.Fatalf("portal off: %v", err)
	}
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{PortalTopUp: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.RequestPortalLoad(ctx, f.wallet, "100.01"); code(err) != "portal_load_limit_exceeded" {
		t.Fatalf("over 100: %v", err)
	}
	f.free("450.00") // an API load: no limit applies
	if _, err := f.l.RequestPortalLoad(ctx, f.wallet, "50.01"); code(err) != "portal_balance_limit_exceeded" {
		t.Fatalf("balance over 500: %v", err)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_loads", "source = 'portal'"); n != 0 {
		t.Fatalf("refused portal loads wrote %d loads", n)
	}
	ld, err := f.l.RequestPortalLoad(ctx, f.wallet, "50.00")
	if err != nil || ld.Status != ledger.LoadPending || ld.Source != ledger.SourcePortal || ld.Type != ledger.LoadPaid {
		t.Fatalf("portal load of exactly the limit: %+v %v", ld, err)
	}
	// The pending 50 counts: 450 + 50 + 0.01 > 500.
	if _, err := f.l.RequestPortalLoad(ctx, f.wallet, "0.01"); code(err) != "portal_balance_limit_exceeded" {
		t.Fatalf("in-flight load not counted: %v", err)
	}
	// Portal loads are paid: they need an automated payment method too.
	other := newFixture(t, ledger.SettingsInput{PortalTopUp: ptr(true)})
	if _, err := other.l.RequestPortalLoad(ctx, other.wallet, "10.00"); code(err) != "no_automated_payment_method" {
		t.Fatalf("portal load without a card: %v", err)
	}
	// Configurable limits.
	other.l.PortalLimits = ledger.PortalLimits{MaxLoad: dec("20"), MaxBalance: dec("30")}
	ledgertest.DefaultMethod(t, other.pool, other.customer, ledgertest.PMSettle)
	if _, err := other.l.RequestPortalLoad(ctx, other.wallet, "20.01"); code(err) != "portal_load_limit_exceeded" {
		t.Fatalf("configured max load: %v", err)
	}
	if _, err := other.l.RequestPortalLoad(ctx, other.wallet, "20.00"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.l.RequestPortalLoad(ctx, other.wallet, "10.01"); code(err) != "portal_balance_limit_exceeded" {
		t.Fatalf("configured max balance: %v", err)
	}
	// The pure rule.
	if err := ledger.CheckPortalLoad(true, dec("400"), dec("0"), dec("100"), "EUR", ledger.DefaultPortalLimits()); err != nil {
		t.Fatalf("400 + 100 = 500 is allowed: %v", err)
	}
}

// TestPortalBalanceLimitUnderConcurrency: 12 concurrent portal loads of 100 on an empty
// wallet: exactly 5 fit under the 500 balance limit.
func TestPortalBalanceLimitUnderConcurrency(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{PortalTopUp: ptr(true)})
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.l.RequestPortalLoad(context.Background(), f.wallet, "100")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case code(err) == "portal_balance_limit_exceeded":
				refused++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 5 || refused != 7 {
		t.Fatalf("%d accepted, %d refused; want 5 and 7", ok, refused)
	}
}

// TestDebitForInvoice: min(balance, amount_due), idempotent per (invoice, attempt), the
// wallet taken again on the next attempt, every reason to take nothing, and the
// credit-back of a voided invoice.
func TestDebitForInvoice(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	inv := ledgertest.Invoice(t, f.pool, f.customer, "50.00")

	r, err := f.l.DebitForInvoice(ctx, inv, 1)
	if err != nil || !r.Amount.IsZero() || r.Skipped != ledger.SkipEmptyBalance || r.Replayed {
		t.Fatalf("empty wallet: %+v %v", r, err)
	}
	f.free("30.00")
	// The outcome of an attempt is fixed by its first call, "nothing taken" included.
	r, err = f.l.DebitForInvoice(ctx, inv, 1)
	if err != nil || !r.Amount.IsZero() || r.Skipped != ledger.SkipEmptyBalance || !r.Replayed {
		t.Fatalf("attempt 1 replayed after a top-up: %+v %v", r, err)
	}
	r, err = f.l.DebitForInvoice(ctx, inv, 2)
	if err != nil || !r.Amount.Equal(dec("30")) || r.Replayed || r.WalletTransactionID == "" || r.InvoiceTransactionID == "" {
		t.Fatalf("first debit: %+v %v", r, err)
	}
	again, err := f.l.DebitForInvoice(ctx, inv, 2)
	if err != nil || !again.Replayed || !again.Amount.Equal(dec("30")) || again.WalletTransactionID != r.WalletTransactionID || again.InvoiceTransactionID != r.InvoiceTransactionID {
		t.Fatalf("second call must return the first debit: %+v %v", again, err)
	}
	if f.balance() != "0.00" {
		t.Fatalf("balance %s", f.balance())
	}
	var paid, due decimal.Decimal
	var status string
	if err := f.pool.QueryRow(ctx, "SELECT amount_paid, amount_due, status FROM invoices WHERE id = $1", inv).Scan(&paid, &due, &status); err != nil {
		t.Fatal(err)
	}
	if !paid.Equal(dec("30")) || !due.Equal(dec("20")) || status != "to_pay" {
		t.Fatalf("invoice paid %s due %s status %s", paid, due, status)
	}
	if n := ledgertest.Count(t, f.pool, "invoice_transactions", "invoice_id = $1 AND method = 'wallet' AND status = 'settled' AND attempt = 2 AND idempotency_key = $2", inv, inv+":wallet:2"); n != 1 {
		t.Fatalf("%d wallet invoice transactions", n)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.debited' AND resource_id = $1", r.WalletTransactionID); n != 1 {
		t.Fatalf("%d wallet.debited events", n)
	}
	// The customer tops up; the next attempt takes the wallet again, only what is due.
	f.free("100.00")
	r2, err := f.l.DebitForInvoice(ctx, inv, 3)
	if err != nil || !r2.Amount.Equal(dec("20")) {
		t.Fatalf("attempt 3: %+v %v", r2, err)
	}
	if f.balance() != "80.00" {
		t.Fatalf("balance %s, want 80.00", f.balance())
	}
	r3, err := f.l.DebitForInvoice(ctx, inv, 4)
	if err != nil || !r3.Amount.IsZero() || r3.Skipped != ledger.SkipNothingDue {
		t.Fatalf("nothing due: %+v %v", r3, err)
	}

	// auto_debit off.
	inv2 := ledgertest.Invoice(t, f.pool, f.customer, "10.00")
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{AutoDebit: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	if r, err := f.l.DebitForInvoice(ctx, inv2, 1); err != nil || !r.Amount.IsZero() || r.Skipped != ledger.SkipAutoDebitOff {
		t.Fatalf("auto_debit off: %+v %v", r, err)
	}
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{AutoDebit: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	// Closed invoices and other customers' invoices without a wallet are not debited.
	if _, err := f.pool.Exec(ctx, "UPDATE invoices SET status = 'voided', voided_at = now() WHERE id = $1", inv2); err != nil {
		t.Fatal(err)
	}
	if r, err := f.l.DebitForInvoice(ctx, inv2, 2); err != nil || r.Skipped != ledger.SkipNotCollectable {
		t.Fatalf("voided invoice: %+v %v", r, err)
	}
	nowallet := ledgertest.Customer(t, f.pool, "EUR")
	if r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, nowallet, "5"), 1); err != nil || r.Skipped != ledger.SkipNoWallet {
		t.Fatalf("no wallet: %+v %v", r, err)
	}
	if _, err := f.l.DebitForInvoice(ctx, "inv_missing", 1); !apperr.IsKind(err, apperr.NotFound) {
		t.Fatalf("missing invoice: %v", err)
	}

	// Void inv: its 50 of wallet debits come back once.
	if _, err := f.pool.Exec(ctx, "UPDATE invoices SET status = 'voided', voided_at = now() WHERE id = $1", inv); err != nil {
		t.Fatal(err)
	}
	cb, err := f.l.CreditBackInvoiceDebits(ctx, inv)
	if err != nil || !cb.Amount.Equal(dec("50")) || cb.Replayed {
		t.Fatalf("credit back: %+v %v", cb, err)
	}
	cb2, err := f.l.CreditBackInvoiceDebits(ctx, inv)
	if err != nil || !cb2.Replayed || cb2.WalletTransactionID != cb.WalletTransactionID {
		t.Fatalf("second credit back: %+v %v", cb2, err)
	}
	if f.balance() != "130.00" {
		t.Fatalf("balance %s after credit back, want 130.00", f.balance())
	}
	// Giving debits back is not a load: it cannot be reverted (the customer would lose it twice).
	if _, err := f.l.Revert(ctx, f.wallet, cb.WalletTransactionID); code(err) != "not_a_load" {
		t.Fatalf("revert of a credit-back: %v", err)
	}
	if f.balance() != "130.00" {
		t.Fatalf("balance %s after a refused revert, want 130.00", f.balance())
	}
	if err := f.pool.QueryRow(ctx, "SELECT amount_paid FROM invoices WHERE id = $1", inv).Scan(&paid); err != nil || !paid.IsZero() {
		t.Fatalf("amount_paid %s after credit back (%v)", paid, err)
	}
	if n := ledgertest.Count(t, f.pool, "invoice_transactions", "invoice_id = $1 AND method = 'wallet' AND status = 'cancelled'", inv); n != 2 {
		t.Fatalf("%d wallet transactions cancelled, want 2", n)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_transactions", "source = 'invoice_void' AND invoice_id = $1 AND type = 'credit_paid'", inv); n != 1 {
		t.Fatalf("%d credit-backs", n)
	}
	if r, err := f.l.CreditBackInvoiceDebits(ctx, inv2); err != nil || !r.Amount.IsZero() {
		t.Fatalf("credit back without debits: %+v %v", r, err)
	}
}

// TestLedgerIsAppendOnly: the database refuses to edit or delete a ledger row, to revert
// twice, and to make a balance negative.
func TestLedgerIsAppendOnly(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ld := f.free("10.00")
	tx := *ld.WalletTransactionID
	for _, stmt := range []string{
		"UPDATE wallet_transactions SET amount = 1000 WHERE id = $1",
		"UPDATE wallet_transactions SET type = 'debit' WHERE id = $1",
		"DELETE FROM wallet_transactions WHERE id = $1",
	} {
		if _, err := f.pool.Exec(ctx, stmt, tx); err == nil {
			t.Fatalf("%s was allowed", stmt)
		}
	}
	if _, err := f.pool.Exec(ctx, "UPDATE wallets SET balance = balance - 11 WHERE id = $1", f.wallet); !store.IsCheckViolation(err, "wallets_balance_not_negative") {
		t.Fatalf("negative balance: %v", err)
	}
	rev, err := f.l.Revert(ctx, f.wallet, tx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, "UPDATE wallet_transactions SET reverted_by = $2 WHERE id = $1", tx, rev.ID); err == nil {
		t.Fatal("reverted_by was set twice")
	}
	// A second revert debit for the same original is refused by the unique index.
	f.free("5.00")
	_, err = store.New(f.pool).DebitWallet(ctx, store.DebitWalletParams{ID: "wtx_dup", WalletID: f.wallet, Amount: dec("1"), Source: "revert", OriginalTransactionID: &tx})
	if !store.IsUniqueViolation(err, "wallet_transactions_original") {
		t.Fatalf("a second revert of one transaction: %v", err)
	}
	// A second debit for one invoice attempt is refused by the unique index.
	inv := ledgertest.Invoice(t, f.pool, f.customer, "3")
	if _, err := f.l.DebitForInvoice(ctx, inv, 1); err != nil {
		t.Fatal(err)
	}
	_, err = store.New(f.pool).DebitWallet(ctx, store.DebitWalletParams{ID: "wtx_dup2", WalletID: f.wallet, Amount: dec("1"), Source: "invoice", InvoiceID: &inv, Attempt: ptr(int32(1))})
	if !store.IsUniqueViolation(err, "wallet_transactions_invoice_attempt") {
		t.Fatalf("a second debit of one invoice attempt: %v", err)
	}
}

// TestCompleteLoadOnce: the charge outcome of a paid load is applied once, whatever the
// number of calls, and a late provider event changes nothing.
func TestCompleteLoadOnce(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	ld, err := f.l.RequestLoad(ctx, f.wallet, ledger.LoadInput{Amount: "25.00", Type: ledger.LoadPaid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.CompleteLoad(ctx, ld.ID, payments.ChargeResult{Status: payments.StatusSettled, Reference: "pi_1"}); err == nil {
		t.Fatal("completed a load that was not prepared")
	}
	if _, err := f.l.PrepareLoad(ctx, ld.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.l.CompleteLoad(ctx, ld.ID, payments.ChargeResult{Status: payments.StatusSettled, Reference: "pi_1"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := f.l.ResolvePendingLoad(ctx, payments.Event{Reference: "pi_1", Status: payments.StatusFailed, ErrorType: payments.ErrDeclined}); err != nil {
		t.Fatal(err)
	}
	got, err := f.l.GetLoad(ctx, f.wallet, ld.ID)
	if err != nil || got.Status != ledger.LoadSettled || got.Receipt == nil || got.Receipt.Number == "" {
		t.Fatalf("load %+v %v", got, err)
	}
	// The first receipt of the year, whatever the five racing completions did.
	if want := fmt.Sprintf("RCT-%d-000001", time.Now().UTC().Year()); got.Receipt.Number != want {
		t.Fatalf("receipt number %q, want %q", got.Receipt.Number, want)
	}
	if f.balance() != "25.00" || ledgertest.Count(t, f.pool, "receipts", "") != 1 || ledgertest.Count(t, f.pool, "events", "type = 'wallet.credited'") != 1 {
		t.Fatalf("balance %s; credited more than once?", f.balance())
	}
}
