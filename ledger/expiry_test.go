package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
)

func (f *fixture) expiring(amount string, at time.Time) ledger.Load {
	f.t.Helper()
	ld, err := f.l.RequestLoad(context.Background(), f.wallet, ledger.LoadInput{Amount: amount, Type: ledger.LoadFree, ExpiresAt: &at})
	if err != nil {
		f.t.Fatal(err)
	}
	if ld.ExpiresAt == nil || !ld.ExpiresAt.Equal(at.Truncate(time.Microsecond)) || ld.CreditNote == nil || ld.CreditNote.ExpiresAt == nil {
		f.t.Fatalf("expiring load %+v: expires_at not shown on it and its credit note", ld)
	}
	return ld
}

func (f *fixture) remaining(creditTx string) string {
	f.t.Helper()
	var r decimal.Decimal
	if err := f.pool.QueryRow(context.Background(), `SELECT remaining FROM wallet_credit_lots WHERE wallet_transaction_id = $1`, creditTx).Scan(&r); err != nil {
		f.t.Fatal(err)
	}
	return r.StringFixed(2)
}

// TestCreditExpiry: debits take the credits that expire first (soonest first, before the
// money that never expires); at its expiry the unused rest of a credit is debited once
// (type expiry, wallet.credit_expired), a spent one expires with nothing debited, an early
// call is refused, a repeated call replays, and an expired credit cannot be reverted.
func TestCreditExpiry(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	now := time.Now()
	f.free("10.00") // never expires
	later := f.expiring("20.00", now.Add(2*time.Hour))
	sooner := f.expiring("30.00", now.Add(time.Hour))
	inv := ledgertest.Invoice(t, f.pool, f.customer, "35.00")
	if r, err := f.l.DebitForInvoice(ctx, inv, 1); err != nil || !r.Amount.Equal(dec("35")) {
		t.Fatalf("debit %+v %v", r, err)
	}
	if s, l := f.remaining(*sooner.WalletTransactionID), f.remaining(*later.WalletTransactionID); s != "0.00" || l != "15.00" {
		t.Fatalf("after a debit of 35: the sooner credit holds %s (want 0.00), the later %s (want 15.00)", s, l)
	}

	if _, err := f.l.ExpireCredit(ctx, *later.WalletTransactionID, now.Add(time.Hour)); code(err) != "credit_not_expired" {
		t.Fatalf("expired before its time: %v", err)
	}
	exp, err := f.l.ExpireCredit(ctx, *later.WalletTransactionID, *later.ExpiresAt)
	if err != nil || !exp.Amount.Equal(dec("15")) || exp.TransactionID == "" || exp.Replayed {
		t.Fatalf("expiry %+v %v", exp, err)
	}
	if f.balance() != "10.00" {
		t.Fatalf("balance %s after the expiry, want the 10.00 that never expires", f.balance())
	}
	again, err := f.l.ExpireCredit(ctx, *later.WalletTransactionID, now.Add(3*time.Hour))
	if err != nil || !again.Replayed || again.TransactionID != exp.TransactionID || !again.Amount.Equal(exp.Amount) {
		t.Fatalf("repeated expiry %+v %v", again, err)
	}
	spent, err := f.l.ExpireCredit(ctx, *sooner.WalletTransactionID, *sooner.ExpiresAt)
	if err != nil || !spent.Amount.IsZero() || spent.Skipped != ledger.ExpirySpent {
		t.Fatalf("expiry of a spent credit %+v %v", spent, err)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_transactions", "type = 'expiry'"); n != 1 {
		t.Fatalf("%d expiry rows, want 1", n)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.credit_expired' AND resource_id = $1", exp.TransactionID); n != 1 {
		t.Fatalf("%d wallet.credit_expired events, want 1", n)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.credit_expired'"); n != 1 {
		t.Fatalf("%d wallet.credit_expired events in all, want 1", n)
	}
	if _, err := f.l.Revert(ctx, f.wallet, *later.WalletTransactionID); code(err) != "credit_expired" {
		t.Fatalf("revert of an expired credit: %v", err)
	}
	if _, err := f.l.ExpireCredit(ctx, "wtx_nothing", now); code(err) != "resource_missing" && err == nil {
		t.Fatal("an unknown credit expired")
	}
}

// TestRevertedCreditDoesNotExpire: a revert takes its own credit's lot first (not the
// sooner one's), and a reverted credit expires with nothing debited and no event.
func TestRevertedCreditDoesNotExpire(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	now := time.Now()
	sooner := f.expiring("20.00", now.Add(time.Hour))
	later := f.expiring("30.00", now.Add(2*time.Hour))
	if _, err := f.l.Revert(ctx, f.wallet, *later.WalletTransactionID); err != nil {
		t.Fatal(err)
	}
	if s, l := f.remaining(*sooner.WalletTransactionID), f.remaining(*later.WalletTransactionID); s != "20.00" || l != "0.00" {
		t.Fatalf("after reverting the later credit: sooner holds %s (want 20.00), later %s (want 0.00)", s, l)
	}
	exp, err := f.l.ExpireCredit(ctx, *later.WalletTransactionID, *later.ExpiresAt)
	if err != nil || !exp.Amount.IsZero() || exp.Skipped != ledger.ExpiryReverted {
		t.Fatalf("expiry of a reverted credit %+v %v", exp, err)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_transactions", "type = 'expiry'"); n != 0 {
		t.Fatalf("a reverted credit expired again: %d expiry rows", n)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.credit_expired'"); n != 0 {
		t.Fatalf("%d wallet.credit_expired events for a reverted credit", n)
	}
	if exp, err := f.l.ExpireCredit(ctx, *sooner.WalletTransactionID, *sooner.ExpiresAt); err != nil || !exp.Amount.Equal(dec("20")) {
		t.Fatalf("expiry of the untouched credit %+v %v", exp, err)
	}
	if f.balance() != "0.00" {
		t.Fatalf("balance %s", f.balance())
	}
}

// TestExpiresAtRules: expires_at is only for free loads, in the future, within 2000–2100;
// a refused load writes nothing.
func TestExpiresAtRules(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	for name, c := range map[string]struct {
		typ string
		at  time.Time
	}{
		"paid load":   {ledger.LoadPaid, time.Now().Add(time.Hour)},
		"in the past": {ledger.LoadFree, time.Now().Add(-time.Minute)},
		"year 2101":   {ledger.LoadFree, time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := f.l.RequestLoad(ctx, f.wallet, ledger.LoadInput{Amount: "5.00", Type: c.typ, ExpiresAt: &c.at})
		if code(err) != "parameter_invalid" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := ledgertest.Count(t, f.pool, "wallet_loads", ""); n != 0 {
		t.Fatalf("%d loads written by refused requests", n)
	}
}

// paidSettledLoad makes a paid direct-debit load of amount whose charge (reference ref)
// is reported settled by the provider's event.
func (f *fixture) paidSettledLoad(amount, ref string) ledger.Load {
	f.t.Helper()
	ctx := context.Background()
	ld, err := f.l.RequestLoad(ctx, f.wallet, ledger.LoadInput{Amount: amount, Type: ledger.LoadPaid})
	if err == nil {
		_, err = f.l.PrepareLoad(ctx, ld.ID)
	}
	if err == nil {
		_, err = f.l.CompleteLoad(ctx, ld.ID, payments.ChargeResult{Status: payments.StatusPending, Reference: ref})
	}
	if err == nil {
		ld, err = f.l.ResolvePendingLoad(ctx, payments.Event{ID: "evt_" + ref, Reference: ref, Status: payments.StatusSettled})
	}
	if err != nil || ld.Status != ledger.LoadSettled {
		f.t.Fatalf("paid load %+v %v", ld, err)
	}
	return ld
}

// TestLoadReversal: a reversed paid load takes back what the wallet still holds (never
// below zero) and opens a standard invoice for the rest, once whatever duplicate events
// arrive, with one wallet.load_reversed; a direct debit failing after it settled is the
// same path; a reverted load's credit is owed whole.
func TestLoadReversal(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMPending)

	ld := f.paidSettledLoad("50.00", "pi_rev_1")
	inv := ledgertest.Invoice(t, f.pool, f.customer, "30.00")
	if _, err := f.l.DebitForInvoice(ctx, inv, 1); err != nil {
		t.Fatal(err)
	}
	ev := payments.Event{ID: "evt_return_1", Provider: "simulated", Reference: "pi_rev_1", Status: payments.StatusReversed, ProviderCode: "sepa_return"}
	for i := 0; i < 3; i++ { // the same event delivered again, and another id for it
		if i == 2 {
			ev.ID = "evt_return_1_bis"
		}
		rev, handled, err := f.l.ReverseLoad(ctx, ev)
		if err != nil || !handled || rev.TakenBack != "20.00" || rev.Invoiced != "30.00" || rev.InvoiceID == nil || rev.WalletTransactionID == nil {
			t.Fatalf("reversal %d: %+v %v %v", i, rev, handled, err)
		}
	}
	if f.balance() != "0.00" {
		t.Fatalf("balance %s after the reversal", f.balance())
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'wallet.load_reversed' AND resource_id = $1", ld.ID); n != 1 {
		t.Fatalf("%d wallet.load_reversed events, want 1", n)
	}
	if n := ledgertest.Count(t, f.pool, "invoices", "kind = 'standard' AND status = 'to_pay' AND total = 30 AND customer_id = $1 AND id <> $2", f.customer, inv); n != 1 {
		t.Fatalf("%d invoices for the rest, want 1", n)
	}
	got, err := f.l.GetLoad(ctx, f.wallet, ld.ID)
	if err != nil || got.Reversal == nil || got.Reversal.Invoiced != "30.00" {
		t.Fatalf("load %+v %v", got, err)
	}

	// A direct debit that fails after it was reported settled; the wallet still holds it all.
	ld2 := f.paidSettledLoad("40.00", "pi_rev_2")
	rev, handled, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_fail_2", Reference: "pi_rev_2", Status: payments.StatusFailed, ErrorType: payments.ErrDeclined})
	if err != nil || !handled || rev.TakenBack != "40.00" || rev.Invoiced != "0.00" || rev.InvoiceID != nil {
		t.Fatalf("failed-after-settled %+v %v %v", rev, handled, err)
	}
	_ = ld2

	// A reverted load: the revert already took the money; the whole amount is owed.
	ld3 := f.paidSettledLoad("15.00", "pi_rev_3")
	if _, err := f.l.Revert(ctx, f.wallet, *ld3.WalletTransactionID); err != nil {
		t.Fatal(err)
	}
	rev, _, err = f.l.ReverseLoad(ctx, payments.Event{ID: "evt_rev_3", Reference: "pi_rev_3", Status: payments.StatusReversed})
	if err != nil || rev.TakenBack != "0.00" || rev.Invoiced != "15.00" {
		t.Fatalf("reversal of a reverted load %+v %v", rev, err)
	}

	// A failed event for a pending load is an ordinary failure, not a reversal.
	ld4, err := f.l.RequestLoad(ctx, f.wallet, ledger.LoadInput{Amount: "5.00", Type: ledger.LoadPaid})
	if err == nil {
		_, err = f.l.PrepareLoad(ctx, ld4.ID)
	}
	if err == nil {
		_, err = f.l.CompleteLoad(ctx, ld4.ID, payments.ChargeResult{Status: payments.StatusPending, Reference: "pi_rev_4"})
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, handled, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_4", Reference: "pi_rev_4", Status: payments.StatusFailed}); err != nil || handled {
		t.Fatalf("a pending load's failure was taken for a reversal: %v %v", handled, err)
	}
	if _, _, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_4r", Reference: "pi_rev_4", Status: payments.StatusReversed}); err == nil {
		t.Fatal("a reversal of a load not yet settled was accepted")
	}
	if _, _, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_x", Reference: "pi_nobody", Status: payments.StatusReversed}); code(err) != "resource_missing" {
		t.Fatalf("unknown reference: %v", err)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_load_reversals", ""); n != 3 {
		t.Fatalf("%d reversals, want 3", n)
	}
}

// TestRevertAfterLoadReversal: once the provider reversed a load, its credit cannot be
// reverted (409 load_reversed, nothing written): the reversal took the money already.
func TestRevertAfterLoadReversal(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMPending)
	f.free("100.00")
	ld := f.paidSettledLoad("50.00", "pi_rr_1")
	if f.balance() != "150.00" {
		t.Fatalf("balance %s", f.balance())
	}
	rev, _, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_rr_1", Reference: "pi_rr_1", Status: payments.StatusReversed})
	if err != nil || rev.TakenBack != "50.00" {
		t.Fatalf("reversal %+v %v", rev, err)
	}
	before := ledgertest.Count(t, f.pool, "wallet_transactions", "wallet_id = $1", f.wallet)
	events := ledgertest.Count(t, f.pool, "events", "customer_id = $1", f.customer)
	if _, err := f.l.Revert(ctx, f.wallet, *ld.WalletTransactionID); code(err) != "load_reversed" {
		t.Fatalf("revert of a reversed load's credit: %v", err)
	}
	if f.balance() != "100.00" {
		t.Fatalf("balance %s after the refused revert, want 100.00", f.balance())
	}
	if n := ledgertest.Count(t, f.pool, "wallet_transactions", "wallet_id = $1", f.wallet); n != before {
		t.Fatalf("%d wallet transactions written by a refused revert", n-before)
	}
	if n := ledgertest.Count(t, f.pool, "events", "customer_id = $1", f.customer); n != events {
		t.Fatalf("%d events written by a refused revert", n-events)
	}
}

// TestRevertAndReversalKeepExpiringCredit: a revert and a load reversal take the money
// that never expires first, so an expiring free credit still expires (the balance ends at
// 0, not with the credit kept forever); an invoice debit still spends it first.
func TestRevertAndReversalKeepExpiringCredit(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"revert", "reversal"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t, ledger.SettingsInput{})
			ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMPending)
			credit := f.expiring("30.00", time.Now().Add(time.Hour))
			ld := f.paidSettledLoad("50.00", "pi_keep_"+how)
			if how == "revert" {
				if _, err := f.l.Revert(ctx, f.wallet, *ld.WalletTransactionID); err != nil {
					t.Fatal(err)
				}
			} else if rev, _, err := f.l.ReverseLoad(ctx, payments.Event{ID: "evt_keep", Reference: "pi_keep_" + how, Status: payments.StatusReversed}); err != nil || rev.TakenBack != "50.00" {
				t.Fatalf("reversal %+v %v", rev, err)
			}
			if b, r := f.balance(), f.remaining(*credit.WalletTransactionID); b != "30.00" || r != "30.00" {
				t.Fatalf("after the %s: balance %s (want 30.00), the expiring credit holds %s (want 30.00)", how, b, r)
			}
			exp, err := f.l.ExpireCredit(ctx, *credit.WalletTransactionID, *credit.ExpiresAt)
			if err != nil || !exp.Amount.Equal(dec("30")) {
				t.Fatalf("expiry %+v %v", exp, err)
			}
			if f.balance() != "0.00" {
				t.Fatalf("balance %s after the expiry, want 0.00", f.balance())
			}
		})
	}

	// The money that never expires does not cover the whole revert: the rest comes out
	// of the other expiring credit, and the lots never hold more than the balance.
	f := newFixture(t, ledger.SettingsInput{})
	sooner := f.expiring("30.00", time.Now().Add(time.Hour))
	later := f.expiring("30.00", time.Now().Add(2*time.Hour))
	inv := ledgertest.Invoice(t, f.pool, f.customer, "20.00")
	if _, err := f.l.DebitForInvoice(ctx, inv, 1); err != nil {
		t.Fatal(err)
	}
	if r := f.remaining(*sooner.WalletTransactionID); r != "10.00" {
		t.Fatalf("an invoice debit left %s on the sooner credit, want 10.00 (it is spent first)", r)
	}
	if _, err := f.l.Revert(ctx, f.wallet, *sooner.WalletTransactionID); err != nil {
		t.Fatal(err)
	}
	if b, s, l := f.balance(), f.remaining(*sooner.WalletTransactionID), f.remaining(*later.WalletTransactionID); b != "10.00" || s != "0.00" || l != "10.00" {
		t.Fatalf("after the revert: balance %s, sooner %s, later %s (want 10.00, 0.00, 10.00)", b, s, l)
	}
}
