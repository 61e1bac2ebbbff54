package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"payorch/apperr"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
	"payorch/subscriptions"
)

// autoTopUp is the setting {"below", "amount"} as a SettingsInput.
func autoTopUp(below, amount string) ledger.SettingsInput {
	return ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true, Value: &ledger.AutoTopUpInput{Below: &below, Amount: amount}}}
}

// runLoad charges a pending load through the fake provider and completes it, as the
// WalletLoad workflow's activities do.
func runLoad(t *testing.T, l *ledger.Ledger, provider *ledgertest.FakeProvider, loadID string) ledger.Load {
	t.Helper()
	ctx := context.Background()
	if _, err := l.PrepareLoad(ctx, loadID); err != nil {
		t.Fatal(err)
	}
	req, err := l.LoadChargeRequest(ctx, loadID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := provider.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := l.CompleteLoad(ctx, loadID, res)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// TestConcurrentDebitsStartOneAutoTopUp: 30 invoices are debited at once (each call made
// twice at once) from a wallet whose auto top-up loads 50 below 60; many debits leave the
// balance under 60, and exactly one auto load is requested. When it has settled, the next
// debit under the threshold requests the next one (one at a time, not once ever). The
// ledger still sums to the balance.
func TestConcurrentDebitsStartOneAutoTopUp(t *testing.T) {
	pool := bigPool(t, 40)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	ledgertest.DefaultMethod(t, pool, cust, ledgertest.PMSettle)
	settings := autoTopUp("60.00", "50.00")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust, Settings: &settings})
	if err != nil {
		t.Fatal(err)
	}
	if a := w.Settings.AutoTopUp; a == nil || *a.Below != "60.00" || a.Amount != "50.00" || a.Status != ledger.AutoTopUpActive {
		t.Fatalf("auto_top_up = %+v", w.Settings.AutoTopUp)
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "200.00", Type: ledger.LoadFree}); err != nil {
		t.Fatal(err)
	}
	invs := make([]string, 30)
	for i := range invs {
		invs[i] = ledgertest.Invoice(t, pool, cust, "5.00")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(invs))
	requested := make(chan string, 2*len(invs))
	for _, inv := range invs {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.DebitForInvoice(ctx, inv, 1)
				if err != nil {
					errs <- err
					return
				}
				if r.Automation.AutoTopUpLoadID != "" {
					requested <- r.Automation.AutoTopUpLoadID
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	close(requested)
	for err := range errs {
		t.Fatal(err)
	}
	if b := ledgertest.Balance(t, pool, w.ID).StringFixed(2); b != "50.00" {
		t.Fatalf("balance %s, want 50.00 (200 − 30 × 5)", b)
	}
	var ids []string
	for id := range requested {
		ids = append(ids, id)
	}
	if n := ledgertest.Count(t, pool, "wallet_loads", "wallet_id = $1 AND auto_top_up IS NOT NULL", w.ID); n != 1 || len(ids) != 1 {
		t.Fatalf("%d auto loads (%d reported by the debits), want exactly 1", n, len(ids))
	}
	ledgertest.AssertBalanced(t, pool)

	// The load settles; the failure count stays 0; the next debit under 60 asks again.
	provider := ledgertest.NewFakeProvider()
	if ld := runLoad(t, l, provider, ids[0]); ld.Status != ledger.LoadSettled || ld.AutoTopUp == nil || *ld.AutoTopUp != ledger.AutoTopUpBelow {
		t.Fatalf("auto load %+v", ld)
	}
	if b := ledgertest.Balance(t, pool, w.ID).StringFixed(2); b != "100.00" {
		t.Fatalf("balance %s after the auto load, want 100.00", b)
	}
	r, err := l.DebitForInvoice(ctx, ledgertest.Invoice(t, pool, cust, "45.00"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("a debit to 55.00 (under 60) after the first auto load settled requested none")
	}
	// A replayed debit (same invoice and attempt) requests nothing more.
	if again, err := l.DebitForInvoice(ctx, r.InvoiceID, 1); err != nil || again.Automation.AutoTopUpLoadID != "" || !again.Replayed {
		t.Fatalf("replayed debit: %+v, %v", again, err)
	}
	if n := ledgertest.Count(t, pool, "wallet_loads", "wallet_id = $1 AND auto_top_up IS NOT NULL", w.ID); n != 2 {
		t.Fatalf("%d auto loads, want 2", n)
	}
	ledgertest.AssertBalanced(t, pool)
}

// TestAutoTopUpSwitchesOffAfterThreeFailures: auto loads charged to a card with no funds
// fail; the third in a row switches the auto top-up off with payment_method.errored and an
// email; while it is off no debit requests a load; setting it again turns it on with the
// count reset, and a settled load resets the count.
func TestAutoTopUpSwitchesOffAfterThreeFailures(t *testing.T) {
	f := newFixture(t, autoTopUp("20.00", "50.00"))
	ctx := context.Background()
	pm := ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMDecline)
	provider := ledgertest.NewFakeProvider()
	f.free("100.00")
	debitAndRun := func() ledger.Load {
		t.Helper()
		r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "1.00"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Automation.AutoTopUpLoadID == "" {
			return ledger.Load{}
		}
		return runLoad(t, f.l, provider, r.Automation.AutoTopUpLoadID)
	}
	// 100 → 19: under 20.
	if _, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "81.00"), 1); err != nil {
		t.Fatal(err)
	}
	first, err := f.l.UnstartedAutoLoads(ctx, time.Hour, 10)
	if err != nil || len(first) != 1 {
		t.Fatalf("unstarted auto loads %+v, %v", first, err)
	}
	if ld := runLoad(t, f.l, provider, first[0].ID); ld.Status != ledger.LoadFailed {
		t.Fatalf("first auto load %+v", ld)
	}
	for i := 2; i <= 3; i++ {
		if ld := debitAndRun(); ld.Status != ledger.LoadFailed {
			t.Fatalf("auto load %d: %+v", i, ld)
		}
		w, err := f.l.GetWallet(ctx, f.wallet)
		if err != nil {
			t.Fatal(err)
		}
		a := w.Settings.AutoTopUp
		wantStatus := ledger.AutoTopUpActive
		if i == 3 {
			wantStatus = ledger.AutoTopUpDisabled
		}
		if a.ConsecutiveFailures != i || a.Status != wantStatus || a.LastError == nil {
			t.Fatalf("after failure %d: %+v", i, a)
		}
	}
	var data []byte
	if err := f.pool.QueryRow(ctx, `SELECT data FROM events WHERE type = 'payment_method.errored' AND resource_id = $1 AND data->>'reason' = 'auto_top_up_disabled'`, pm).Scan(&data); err != nil {
		t.Fatalf("payment_method.errored of the switch-off: %v", err)
	}
	var ev ledger.AutoTopUpDisabledEvent
	if err := json.Unmarshal(data, &ev); err != nil || ev.WalletID != f.wallet || ev.Failures != 3 || ev.ErrorType != string(payments.ErrPaymentMethodDeclined) || ev.ID != pm {
		t.Fatalf("event %s (%v)", data, err)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'email.auto_top_up_disabled' AND resource_id = $1", f.wallet); n != 1 {
		t.Fatalf("%d switch-off emails, want 1", n)
	}
	// Off: debits under the threshold request nothing.
	if ld := debitAndRun(); ld.ID != "" {
		t.Fatalf("a switched-off auto top-up requested %+v", ld)
	}
	// Set again (a working card now): on, count reset; a settled load keeps it at 0.
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	s := autoTopUp("20.00", "50.00")
	w, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &s})
	if err != nil {
		t.Fatal(err)
	}
	if a := w.Settings.AutoTopUp; a.Status != ledger.AutoTopUpActive || a.ConsecutiveFailures != 0 {
		t.Fatalf("set again: %+v", a)
	}
	if ld := debitAndRun(); ld.Status != ledger.LoadSettled {
		t.Fatalf("auto load after re-enabling: %+v", ld)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'email.auto_top_up_disabled'"); n != 1 {
		t.Fatalf("%d switch-off emails, want still 1", n)
	}
}

// TestAutoTopUpCountsOnlyConsecutiveFailures: failure, failure, success, failure, failure
// leaves the auto top-up on (a success resets the count).
func TestAutoTopUpCountsOnlyConsecutiveFailures(t *testing.T) {
	f := newFixture(t, autoTopUp("20.00", "0.50"))
	ctx := context.Background()
	provider := ledgertest.NewFakeProvider()
	f.free("19.00") // under 20 already, but only a debit starts a load
	for i, pmID := range []string{ledgertest.PMDecline, ledgertest.PMDecline, ledgertest.PMSettle, ledgertest.PMDecline, ledgertest.PMDecline} {
		ledgertest.DefaultMethod(t, f.pool, f.customer, pmID)
		r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "0.10"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Automation.AutoTopUpLoadID == "" {
			t.Fatalf("step %d: no auto load requested", i)
		}
		runLoad(t, f.l, provider, r.Automation.AutoTopUpLoadID)
	}
	w, err := f.l.GetWallet(ctx, f.wallet)
	if err != nil {
		t.Fatal(err)
	}
	if a := w.Settings.AutoTopUp; a.Status != ledger.AutoTopUpActive || a.ConsecutiveFailures != 2 {
		t.Fatalf("after F F S F F: %+v", a)
	}
}

// TestAutoTopUpSettingsValidated: amounts positive with the currency's decimals,
// monthly_on 1-28, at least one trigger; null removes it.
func TestAutoTopUpSettingsValidated(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	s := func(below *string, amount string, day *int) *ledger.SettingsInput {
		return &ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true, Value: &ledger.AutoTopUpInput{Below: below, Amount: amount, MonthlyOn: day}}}
	}
	for name, tc := range map[string]struct {
		in    *ledger.SettingsInput
		param string
	}{
		"zero amount":     {s(ptr("10.00"), "0", nil), "settings.auto_top_up.amount"},
		"negative amount": {s(ptr("10.00"), "-5.00", nil), "settings.auto_top_up.amount"},
		"three decimals":  {s(ptr("10.001"), "5.00", nil), "settings.auto_top_up.below"},
		"zero below":      {s(ptr("0"), "5.00", nil), "settings.auto_top_up.below"},
		"day 0":           {s(nil, "5.00", ptr(0)), "settings.auto_top_up.monthly_on"},
		"day 29":          {s(nil, "5.00", ptr(29)), "settings.auto_top_up.monthly_on"},
		"no trigger":      {s(nil, "5.00", nil), "settings.auto_top_up"},
		"negative alert":  {&ledger.SettingsInput{AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("-1.00")}}, "settings.alert_below"},
	} {
		_, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: tc.in})
		if e, ok := apperr.As(err); !ok || e.Param != tc.param || e.Kind != apperr.Invalid {
			t.Errorf("%s: %v, want a typed invalid error on %s", name, err, tc.param)
		}
	}
	w, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: s(nil, "5.00", ptr(28))})
	if err != nil || w.Settings.AutoTopUp == nil || *w.Settings.AutoTopUp.MonthlyOn != 28 || w.Settings.AutoTopUp.Below != nil {
		t.Fatalf("monthly only: %+v, %v", w.Settings.AutoTopUp, err)
	}
	w, err = f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true}}})
	if err != nil || w.Settings.AutoTopUp != nil {
		t.Fatalf("removed: %+v, %v", w.Settings.AutoTopUp, err)
	}
}

// TestBalanceLowAlertOncePerCrossing: a wallet of twenty 5.00 credits gets alert_below
// 50.00 (no alert at 100); all twenty credits are reverted at once (twenty concurrent debits taking the
// projected balance from 100 to 0): exactly one wallet.balance_low. Loads that take it
// back to 50 (not above) do not re-arm it; above 50 it is re-armed without an event; a
// burst of concurrent invoices (each of which alone crosses under 50) alerts once more.
func TestBalanceLowAlertOncePerCrossing(t *testing.T) {
	pool := bigPool(t, 30)
	ctx := context.Background()
	l := ledger.New(pool)
	cust := ledgertest.Customer(t, pool, "EUR")
	w, err := l.CreateWallet(ctx, ledger.CreateWalletInput{CustomerID: cust})
	if err != nil {
		t.Fatal(err)
	}
	alerts := func() int {
		return ledgertest.Count(t, pool, "events", "type = 'wallet.balance_low' AND resource_id = $1", w.ID)
	}
	var credits []string
	for range 20 {
		ld, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "5.00", Type: ledger.LoadFree})
		if err != nil {
			t.Fatal(err)
		}
		credits = append(credits, *ld.WalletTransactionID)
	}
	alert := ledger.SettingsInput{AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("50.00")}}
	if got, err := l.UpdateWallet(ctx, w.ID, ledger.UpdateWalletInput{Settings: &alert}); err != nil || got.BalanceLow || alerts() != 0 {
		t.Fatalf("alert_below 50 at 100: %+v, %v, %d alerts", got, err, alerts())
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(credits))
	for _, tx := range credits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Revert(ctx, w.ID, tx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d alerts after a burst of 20 debits crossing under 50, want exactly 1", n)
	}
	// Back to exactly 50: not above, still low, no event.
	for range 10 {
		if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "5.00", Type: ledger.LoadFree}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := l.GetWallet(ctx, w.ID); !got.BalanceLow || got.ProjectedBalance != "50.00" {
		t.Fatalf("at exactly 50: %+v", got)
	}
	if _, err := l.RequestLoad(ctx, w.ID, ledger.LoadInput{Amount: "100.00", Type: ledger.LoadFree}); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.GetWallet(ctx, w.ID); got.BalanceLow || alerts() != 1 {
		t.Fatalf("at 150: balance_low %v, %d alerts (want re-armed, still 1)", got.BalanceLow, alerts())
	}
	// One invoice of 95 takes the projected balance to 55 (above 50: nothing); then twelve
	// invoices of 10 at once, each of which alone would cross under 50: one alert.
	svc := invoices.NewService(pool)
	if _, err := svc.Create(ctx, invoices.CreateInput{CustomerID: cust,
		Lines: []invoices.LineInput{{Description: "big", Amount: "95.00"}}}); err != nil {
		t.Fatal(err)
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d alerts at 55, want still 1", n)
	}
	start := make(chan struct{})
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := svc.Create(ctx, invoices.CreateInput{CustomerID: cust,
				Lines: []invoices.LineInput{{Description: fmt.Sprint("line ", i), Amount: "10.00"}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	got, err := l.GetWallet(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ProjectedBalance != "-65.00" || !got.BalanceLow || alerts() != 2 {
		t.Fatalf("after 12 invoices: projected %s, balance_low %v, %d alerts (want -65.00, true, 2)", got.ProjectedBalance, got.BalanceLow, alerts())
	}
	var data []byte
	if err := pool.QueryRow(ctx, `SELECT data FROM events WHERE type = 'wallet.balance_low' ORDER BY seq DESC LIMIT 1`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var ev ledger.Wallet
	if err := json.Unmarshal(data, &ev); err != nil || ev.ID != w.ID || !ev.BalanceLow || ev.Settings.AlertBelow == nil || *ev.Settings.AlertBelow != "50.00" {
		t.Fatalf("event data %s (%v)", data, err)
	}
	ledgertest.AssertBalanced(t, pool)
}

// TestMonthlyTopUpOncePerMonth: the monthly load is made once per wallet and month; none
// for a wallet without monthly_on.
func TestMonthlyTopUpOncePerMonth(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	at := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	if r, err := f.l.RequestMonthlyTopUp(ctx, f.wallet, at); err != nil || r.Skipped != "auto_top_up_off" {
		t.Fatalf("no auto top-up: %+v, %v", r, err)
	}
	day := 5
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{
		AutoTopUp: ledger.OptionalAutoTopUp{Set: true, Value: &ledger.AutoTopUpInput{Amount: "30.00", MonthlyOn: &day}}}}); err != nil {
		t.Fatal(err)
	}
	r1, err := f.l.RequestMonthlyTopUp(ctx, f.wallet, at)
	if err != nil || r1.Load.ID == "" || r1.Load.Amount != "30.00" || *r1.Load.AutoTopUp != ledger.AutoTopUpMonthly {
		t.Fatalf("monthly load: %+v, %v", r1, err)
	}
	r2, err := f.l.RequestMonthlyTopUp(ctx, f.wallet, at.Add(time.Hour))
	if err != nil || r2.Load.ID != r1.Load.ID {
		t.Fatalf("same month again: %+v, %v (want %s)", r2, err, r1.Load.ID)
	}
	provider := ledgertest.NewFakeProvider()
	runLoad(t, f.l, provider, r1.Load.ID)
	r3, err := f.l.RequestMonthlyTopUp(ctx, f.wallet, at.AddDate(0, 1, 0))
	if err != nil || r3.Load.ID == "" || r3.Load.ID == r1.Load.ID {
		t.Fatalf("next month: %+v, %v", r3, err)
	}
	runLoad(t, f.l, provider, r3.Load.ID)
	if f.balance() != "60.00" {
		t.Fatalf("balance %s, want 60.00", f.balance())
	}
}

// TestBalanceLowOnSubscriptionAndUsage: a subscription's fee and its usage lower the
// projected balance; the one that takes it under alert_below alerts, once.
func TestBalanceLowOnSubscriptionAndUsage(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	f.free("100.00")
	alert := ledger.SettingsInput{AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("50.00")}}
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &alert}); err != nil {
		t.Fatal(err)
	}
	alerts := func() int { return ledgertest.Count(t, f.pool, "events", "type = 'wallet.balance_low'") }
	svc := subscriptions.NewService(f.pool)
	now := time.Now().UTC()
	sub, err := svc.Create(ctx, subscriptions.CreateInput{CustomerID: f.customer, Amount: "30.00",
		CurrentPeriodStart: now.Add(-24 * time.Hour).Format(time.RFC3339), CurrentPeriodEnd: now.Add(29 * 24 * time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if n := alerts(); n != 0 {
		t.Fatalf("%d alerts at 70, want 0", n)
	}
	for i := range 3 {
		if _, err := svc.RecordUsage(ctx, sub.ID, subscriptions.UsageInput{Amount: "10.00", Description: fmt.Sprint("usage ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := f.l.GetWallet(ctx, f.wallet)
	if err != nil {
		t.Fatal(err)
	}
	if n := alerts(); n != 1 || w.ProjectedBalance != "40.00" || !w.BalanceLow {
		t.Fatalf("after usage to 40: %d alerts, projected %s, balance_low %v (want 1, 40.00, true)", n, w.ProjectedBalance, w.BalanceLow)
	}
}

// TestOnePendingAutoLoadWhateverItsKind: a wallet has at most one auto load in flight, of
// either kind: the monthly run finds the below-triggered load pending and answers it
// (auto_load_pending, no monthly load made), and a debit under below finds the monthly one
// pending and requests nothing.
func TestOnePendingAutoLoadWhateverItsKind(t *testing.T) {
	ctx := context.Background()
	below, day := "60.00", 5
	settings := ledger.SettingsInput{AutoTopUp: ledger.OptionalAutoTopUp{Set: true,
		Value: &ledger.AutoTopUpInput{Below: &below, Amount: "50.00", MonthlyOn: &day}}}
	at := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)

	f := newFixture(t, settings)
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	f.free("100.00")
	r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "50.00"), 1)
	if err != nil || r.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("debit under below: %+v %v", r, err)
	}
	m, err := f.l.RequestMonthlyTopUp(ctx, f.wallet, at)
	if err != nil || m.Skipped != ledger.AutoLoadPending || m.Load.ID != r.Automation.AutoTopUpLoadID {
		t.Fatalf("monthly run with a below load pending: %+v %v (want auto_load_pending answering %s)", m, err, r.Automation.AutoTopUpLoadID)
	}
	if n := ledgertest.Count(t, f.pool, "wallet_loads", "wallet_id = $1 AND auto_top_up IS NOT NULL", f.wallet); n != 1 {
		t.Fatalf("%d auto loads, want 1", n)
	}

	g := newFixture(t, settings)
	ledgertest.DefaultMethod(t, g.pool, g.customer, ledgertest.PMSettle)
	g.free("100.00")
	m, err = g.l.RequestMonthlyTopUp(ctx, g.wallet, at)
	if err != nil || m.Load.ID == "" || m.Skipped != "" {
		t.Fatalf("monthly load: %+v %v", m, err)
	}
	r, err = g.l.DebitForInvoice(ctx, ledgertest.Invoice(t, g.pool, g.customer, "50.00"), 1)
	if err != nil || r.Automation.AutoTopUpLoadID != "" {
		t.Fatalf("a debit under below with the monthly load pending requested another: %+v %v", r, err)
	}
	if n := ledgertest.Count(t, g.pool, "wallet_loads", "wallet_id = $1 AND auto_top_up IS NOT NULL AND status = 'pending'", g.wallet); n != 1 {
		t.Fatalf("%d pending auto loads, want 1", n)
	}
	// Once it has settled, the next month's load is made as usual.
	runLoad(t, g.l, ledgertest.NewFakeProvider(), m.Load.ID)
	if next, err := g.l.RequestMonthlyTopUp(ctx, g.wallet, at.AddDate(0, 1, 0)); err != nil || next.Load.ID == "" || next.Load.ID == m.Load.ID || next.Skipped != "" {
		t.Fatalf("next month: %+v %v", next, err)
	}
}

// TestAlertBelowSameValueDoesNotReArm: a settings PATCH repeating alert_below (three
// times) keeps the alert's state: one wallet.balance_low, not one per PATCH; a changed
// threshold re-arms it.
func TestAlertBelowSameValueDoesNotReArm(t *testing.T) {
	f := newFixture(t, ledger.SettingsInput{})
	ctx := context.Background()
	f.free("20.00")
	alerts := func() int {
		return ledgertest.Count(t, f.pool, "events", "type = 'wallet.balance_low' AND resource_id = $1", f.wallet)
	}
	for i := 0; i < 3; i++ {
		if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{
			AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("50.00")}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := alerts(); n != 1 {
		t.Fatalf("%d wallet.balance_low after the same alert_below PATCHed 3 times, want 1", n)
	}
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &ledger.SettingsInput{
		AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("40.00")}}}); err != nil {
		t.Fatal(err)
	}
	if n := alerts(); n != 2 {
		t.Fatalf("%d wallet.balance_low after a changed threshold, want 2", n)
	}
}

// TestReversedAutoLoadsSwitchOff: an auto load that settles and is then taken back (a
// bouncing mandate, a chargeback) counts as a failed auto load; the settlement of the next
// one does not reset the count, so the third reversal in a row switches the auto top-up
// off with payment_method.errored and the email.
func TestReversedAutoLoadsSwitchOff(t *testing.T) {
	f := newFixture(t, autoTopUp("20.00", "50.00"))
	ctx := context.Background()
	pm := ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	provider := ledgertest.NewFakeProvider()
	f.free("100.00")
	// 100 → 19: under 20.
	r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "81.00"), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if r.Automation.AutoTopUpLoadID == "" {
			t.Fatalf("round %d: no auto load requested", i)
		}
		ld := runLoad(t, f.l, provider, r.Automation.AutoTopUpLoadID)
		if ld.Status != ledger.LoadSettled {
			t.Fatalf("round %d: auto load %+v", i, ld)
		}
		var chargeRef string
		if err := f.pool.QueryRow(ctx, `SELECT charge_reference FROM wallet_loads WHERE id = $1`, ld.ID).Scan(&chargeRef); err != nil {
			t.Fatal(err)
		}
		if rev, _, err := f.l.ReverseLoad(ctx, payments.Event{ID: fmt.Sprintf("evt_bounce_%d", i), Reference: chargeRef, Status: payments.StatusReversed, ProviderCode: "sepa_return"}); err != nil || rev.TakenBack != "50.00" {
			t.Fatalf("round %d: reversal %+v %v", i, rev, err)
		}
		w, err := f.l.GetWallet(ctx, f.wallet)
		if err != nil {
			t.Fatal(err)
		}
		want := ledger.AutoTopUpActive
		if i == 3 {
			want = ledger.AutoTopUpDisabled
		}
		if a := w.Settings.AutoTopUp; a.ConsecutiveFailures != i || a.Status != want {
			t.Fatalf("after reversal %d: %+v (want %d failures, %s)", i, a, i, want)
		}
		if r, err = f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "1.00"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if r.Automation.AutoTopUpLoadID != "" {
		t.Fatal("a switched-off auto top-up requested a load")
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'payment_method.errored' AND resource_id = $1 AND data->>'reason' = 'auto_top_up_disabled'", pm); n != 1 {
		t.Fatalf("%d payment_method.errored, want 1", n)
	}
	if n := ledgertest.Count(t, f.pool, "events", "type = 'email.auto_top_up_disabled' AND resource_id = $1", f.wallet); n != 1 {
		t.Fatalf("%d switch-off emails, want 1", n)
	}
}

// TestAutoTopUpAtZeroBalance: a wallet emptied to 0 while its auto load failed still asks
// for a load when the next invoice finds its balance empty (one in flight at most), and
// the same attempt replayed asks nothing more.
func TestAutoTopUpAtZeroBalance(t *testing.T) {
	f := newFixture(t, autoTopUp("20.00", "50.00"))
	ctx := context.Background()
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMDecline)
	provider := ledgertest.NewFakeProvider()
	f.free("10.00")
	r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "10.00"), 1)
	if err != nil || r.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("debit to 0: %+v %v", r, err)
	}
	if ld := runLoad(t, f.l, provider, r.Automation.AutoTopUpLoadID); ld.Status != ledger.LoadFailed {
		t.Fatalf("auto load %+v", ld)
	}
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	inv := ledgertest.Invoice(t, f.pool, f.customer, "5.00")
	r, err = f.l.DebitForInvoice(ctx, inv, 1)
	if err != nil || r.Skipped != ledger.SkipEmptyBalance || r.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("an invoice finding the wallet at 0 under below requested no load: %+v %v", r, err)
	}
	if again, err := f.l.DebitForInvoice(ctx, inv, 1); err != nil || !again.Replayed || again.Automation.AutoTopUpLoadID != "" {
		t.Fatalf("replayed attempt: %+v %v", again, err)
	}
	// A second empty-balance attempt while that load is pending asks nothing more.
	if r2, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "5.00"), 1); err != nil || r2.Automation.AutoTopUpLoadID != "" {
		t.Fatalf("second empty attempt: %+v %v", r2, err)
	}
	if ld := runLoad(t, f.l, provider, r.Automation.AutoTopUpLoadID); ld.Status != ledger.LoadSettled {
		t.Fatalf("auto load %+v", ld)
	}
	if f.balance() != "50.00" {
		t.Fatalf("balance %s, want 50.00", f.balance())
	}
}

// TestBalanceLowAfterExpiryAndReversal: an expiry and a load reversal that take the
// projected balance under alert_below send wallet.balance_low.
func TestBalanceLowAfterExpiryAndReversal(t *testing.T) {
	ctx := context.Background()
	alert := ledger.SettingsInput{AlertBelow: ledger.OptionalAmount{Set: true, Value: ptr("5.00")}}
	alerts := func(f *fixture) int {
		return ledgertest.Count(t, f.pool, "events", "type = 'wallet.balance_low' AND resource_id = $1", f.wallet)
	}

	f := newFixture(t, ledger.SettingsInput{})
	credit := f.expiring("10.00", time.Now().Add(time.Hour))
	if _, err := f.l.UpdateWallet(ctx, f.wallet, ledger.UpdateWalletInput{Settings: &alert}); err != nil {
		t.Fatal(err)
	}
	if n := alerts(f); n != 0 {
		t.Fatalf("%d alerts at 10.00", n)
	}
	if _, err := f.l.ExpireCredit(ctx, *credit.WalletTransactionID, *credit.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	if n := alerts(f); n != 1 {
		t.Fatalf("%d wallet.balance_low after the expiry to 0, want 1", n)
	}

	g := newFixture(t, ledger.SettingsInput{})
	ledgertest.DefaultMethod(t, g.pool, g.customer, ledgertest.PMPending)
	g.paidSettledLoad("50.00", "pi_low_1")
	if _, err := g.l.UpdateWallet(ctx, g.wallet, ledger.UpdateWalletInput{Settings: &alert}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.l.ReverseLoad(ctx, payments.Event{ID: "evt_low_1", Reference: "pi_low_1", Status: payments.StatusReversed}); err != nil {
		t.Fatal(err)
	}
	if n := alerts(g); n != 1 {
		t.Fatalf("%d wallet.balance_low after the reversal to 0, want 1", n)
	}
}

// TestAutoTopUpWithoutMethodCountsNoFailure: debits under below with no usable payment
// method load nothing and count no failed load (three small invoices do not switch the
// auto top-up off nor send its email); last_error says why, and once a method is added
// the next debit under below loads.
func TestAutoTopUpWithoutMethodCountsNoFailure(t *testing.T) {
	f := newFixture(t, autoTopUp("20.00", "50.00"))
	ctx := context.Background()
	f.free("10.00")
	for i := 0; i < 3; i++ {
		r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "1.00"), 1)
		if err != nil || r.Automation.AutoTopUpLoadID != "" {
			t.Fatalf("debit %d without a method: %+v %v", i, r, err)
		}
	}
	w, err := f.l.GetWallet(ctx, f.wallet)
	if err != nil {
		t.Fatal(err)
	}
	if a := w.Settings.AutoTopUp; a.Status != ledger.AutoTopUpActive || a.ConsecutiveFailures != 0 || a.LastError == nil {
		t.Fatalf("auto top-up after 3 debits without a method: %+v", a)
	}
	if n := ledgertest.Count(t, f.pool, "events", "customer_id = $1 AND type IN ('email.auto_top_up_disabled', 'payment_method.errored')", f.customer); n != 0 {
		t.Fatalf("%d switch-off events without any failed load", n)
	}
	ledgertest.DefaultMethod(t, f.pool, f.customer, ledgertest.PMSettle)
	r, err := f.l.DebitForInvoice(ctx, ledgertest.Invoice(t, f.pool, f.customer, "1.00"), 1)
	if err != nil || r.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("debit once a method is there: %+v %v", r, err)
	}
}
