package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"payorch/collection"
	"payorch/contracts"
	"payorch/internal/testenv/poll"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
)

// sweeper is the worker's sweeper on the harness's collection client.
func (h *walletHarness) sweeper() *collection.Sweeper {
	return &collection.Sweeper{Collection: h.srv.collect, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Hour}
}

// debit takes total from the customer's wallet for a new invoice, as an invoice's
// collection does (ledger.DebitForInvoice).
func (h *walletHarness) debit(customerID, total string) ledger.DebitResult {
	h.t.Helper()
	r, err := h.srv.ledger.DebitForInvoice(context.Background(), ledgertest.Invoice(h.t, h.pool, customerID, total), 1)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// autoLoad waits for the auto load to leave pending and returns its status.
func (h *walletHarness) autoLoad(walletID, loadID string) string {
	h.t.Helper()
	var status string
	poll.Until(h.t, 60*time.Second, "auto load "+loadID+" completed", func() (bool, string) {
		r := h.do("GET", "/v1/wallets/"+walletID+"/loads/"+loadID, supportKey, nil)
		status, _ = r.JSON(h.t)["status"].(string)
		return status != "pending", status
	})
	return status
}

// TestAutoTopUpThroughTheWorker: on the dev server, a debit that leaves the balance under
// below requests an auto load, which the sweeper starts as a WalletLoad workflow and which
// settles (credited, receipt). With a card that declines, three auto loads in a row fail,
// and the auto top-up switches itself off: GET shows it disabled, payment_method.errored
// (reason auto_top_up_disabled) and the email are written; the next debit starts nothing.
func TestAutoTopUpThroughTheWorker(t *testing.T) {
	h := newWalletHarness(t)
	ctx := context.Background()
	// Settles.
	cust, wal := h.newWallet(ledgertest.PMSettle)
	r := h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{
		"auto_top_up": map[string]any{"below": "20.00", "amount": "50.00"}}})
	mustStatus(t, r, 200)
	mustStatus(t, h.load(wal, map[string]any{"amount": "30.00", "type": "free"}), 201)
	d := h.debit(cust, "15.00")
	if d.Automation.AutoTopUpLoadID == "" {
		t.Fatal("a debit to 15.00 (under 20) requested no auto load")
	}
	res, err := h.sweeper().Sweep(ctx)
	if err != nil || res.AutoLoads != 1 {
		t.Fatalf("sweep: %+v, %v", res, err)
	}
	if st := h.autoLoad(wal, d.Automation.AutoTopUpLoadID); st != "settled" {
		t.Fatalf("auto load %s", st)
	}
	if b := h.getWallet(wal)["balance"]; b != "65.00" {
		t.Fatalf("balance %v, want 65.00", b)
	}
	// A second sweep finds nothing to start.
	if res, err := h.sweeper().Sweep(ctx); err != nil || res.AutoLoads != 0 {
		t.Fatalf("second sweep: %+v, %v", res, err)
	}

	// Declines three times.
	cust2, wal2 := h.newWallet(ledgertest.PMDecline)
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+wal2, backendKey, map[string]any{"settings": map[string]any{
		"auto_top_up": map[string]any{"below": "20.00", "amount": "50.00"}}}), 200)
	mustStatus(t, h.load(wal2, map[string]any{"amount": "20.50", "type": "free"}), 201)
	for i := 1; i <= 3; i++ {
		d := h.debit(cust2, "1.00")
		if d.Automation.AutoTopUpLoadID == "" {
			t.Fatalf("debit %d requested no auto load", i)
		}
		if _, err := h.sweeper().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if st := h.autoLoad(wal2, d.Automation.AutoTopUpLoadID); st != "failed" {
			t.Fatalf("auto load %d: %s", i, st)
		}
	}
	a := h.getWallet(wal2)["settings"].(map[string]any)["auto_top_up"].(map[string]any)
	if a["status"] != "disabled" || a["consecutive_failures"] != float64(3) || a["disabled_at"] == nil {
		t.Fatalf("after 3 failures: %v", a)
	}
	var n int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'payment_method.errored' AND customer_id = $1 AND data->>'reason' = 'auto_top_up_disabled' AND data->>'wallet_id' = $2`, cust2, wal2).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d payment_method.errored of the switch-off (%v), want 1", n, err)
	}
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'email.auto_top_up_disabled' AND customer_id = $1`, cust2).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d switch-off emails (%v), want 1", n, err)
	}
	if d := h.debit(cust2, "1.00"); d.Automation.AutoTopUpLoadID != "" {
		t.Fatalf("a switched-off auto top-up requested %s", d.Automation.AutoTopUpLoadID)
	}
	// The event is in the public list.
	r = h.do("GET", "/v1/events?type=payment_method.errored", supportKey, nil)
	mustStatus(t, r, 200)
}

// scheduleDay returns the day of the month of a wallet's auto top-up schedule (0: no
// schedule).
func scheduleDay(t *testing.T, walletID string) int {
	t.Helper()
	desc, err := env.Temporal.ScheduleClient().GetHandle(context.Background(), contracts.WalletAutoTopUpScheduleID(walletID)).Describe(context.Background())
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	cals := desc.Schedule.Spec.Calendars
	if len(cals) != 1 || len(cals[0].DayOfMonth) != 1 {
		t.Fatalf("schedule spec %+v", desc.Schedule.Spec)
	}
	return cals[0].DayOfMonth[0].Start
}

// TestAutoTopUpScheduleFollowsSetting: against the dev server, the wallet's Temporal
// Schedule wallet-auto-top-up/<wallet_id> is created with a monthly_on, moved when it
// changes, and deleted when the setting loses its monthly_on or is removed; triggered, it
// loads the amount once for the month (a second run finds the same load).
func TestAutoTopUpScheduleFollowsSetting(t *testing.T) {
	h := newWalletHarness(t)
	ctx := context.Background()
	cust := h.customer("EUR")
	h.method(cust, ledgertest.PMSettle)
	w := h.wallet(cust, map[string]any{"auto_top_up": map[string]any{"amount": "30.00", "monthly_on": 5}})
	wal := w["id"].(string)
	a := w["settings"].(map[string]any)["auto_top_up"].(map[string]any)
	if a["amount"] != "30.00" || a["monthly_on"] != float64(5) || a["below"] != nil || a["status"] != "active" {
		t.Fatalf("created with %v", a)
	}
	t.Cleanup(func() {
		_ = env.Temporal.ScheduleClient().GetHandle(ctx, contracts.WalletAutoTopUpScheduleID(wal)).Delete(ctx)
	})
	if d := scheduleDay(t, wal); d != 5 {
		t.Fatalf("schedule day %d, want 5", d)
	}
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{
		"auto_top_up": map[string]any{"amount": "30.00", "below": "10.00", "monthly_on": 12}}}), 200)
	if d := scheduleDay(t, wal); d != 12 {
		t.Fatalf("schedule day %d after the update, want 12", d)
	}
	// Other settings leave it alone.
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{"auto_debit": false}}), 200)
	if d := scheduleDay(t, wal); d != 12 {
		t.Fatalf("schedule day %d after an auto_debit change, want 12", d)
	}

	// Triggered twice: one load of 30.00 for the month.
	handle := env.Temporal.ScheduleClient().GetHandle(ctx, contracts.WalletAutoTopUpScheduleID(wal))
	for i := range 2 {
		if err := handle.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 60*time.Second, fmt.Sprint("run ", i+1, " of the schedule ended"), func() (bool, string) {
			desc, err := handle.Describe(ctx)
			if err != nil {
				return false, err.Error()
			}
			done := 0
			for _, r := range desc.Info.RecentActions {
				run, err := env.Temporal.DescribeWorkflowExecution(ctx, r.StartWorkflowResult.WorkflowID, r.StartWorkflowResult.FirstExecutionRunID)
				if err == nil && run.WorkflowExecutionInfo.CloseTime != nil {
					done++
				}
			}
			return done == i+1 && len(desc.Info.RunningWorkflows) == 0, fmt.Sprintf("%d runs ended", done)
		})
	}
	if b := h.getWallet(wal)["balance"]; b != "30.00" {
		t.Fatalf("balance %v after two runs in one month, want 30.00", b)
	}
	var n int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM wallet_loads WHERE wallet_id = $1 AND auto_top_up = 'monthly' AND status = 'settled'`, wal).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d settled monthly loads (%v), want 1", n, err)
	}

	// No monthly_on any more: deleted.
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{
		"auto_top_up": map[string]any{"amount": "30.00", "below": "10.00"}}}), 200)
	if d := scheduleDay(t, wal); d != 0 {
		t.Fatalf("schedule still there (day %d) without monthly_on", d)
	}
	// Back, then the setting removed: deleted again.
	mustStatus(t, h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{
		"auto_top_up": map[string]any{"amount": "30.00", "monthly_on": 1}}}), 200)
	if d := scheduleDay(t, wal); d != 1 {
		t.Fatalf("schedule day %d, want 1", d)
	}
	r := h.do("PATCH", "/v1/wallets/"+wal, backendKey, map[string]any{"settings": map[string]any{"auto_top_up": nil}})
	mustStatus(t, r, 200)
	if s := r.JSON(t)["settings"].(map[string]any); s["auto_top_up"] != nil {
		t.Fatalf("auto_top_up after null: %v", s["auto_top_up"])
	}
	if d := scheduleDay(t, wal); d != 0 {
		t.Fatalf("schedule still there (day %d) after the setting was removed", d)
	}
}

// TestAutomationSettingsRefused: invalid automation settings are a typed 400 and write
// nothing.
func TestAutomationSettingsRefused(t *testing.T) {
	h := newWalletHarness(t)
	_, wal := h.newWallet(ledgertest.PMSettle)
	patch := func(settings map[string]any) map[string]any { return map[string]any{"settings": settings} }
	for _, tc := range []struct{ body map[string]any }{
		{patch(map[string]any{"auto_top_up": map[string]any{"below": "10.00", "amount": "0"}})},
		{patch(map[string]any{"auto_top_up": map[string]any{"amount": "10.00", "monthly_on": 31}})},
		{patch(map[string]any{"auto_top_up": map[string]any{"amount": "10.00"}})},
		{patch(map[string]any{"auto_top_up": map[string]any{"amount": "10.00", "below": "5", "extra": 1}})},
		{patch(map[string]any{"auto_top_up": "yes"})},
		{patch(map[string]any{"alert_below": 10})},
		{patch(map[string]any{"alert_below": "-1.00"})},
	} {
		before := h.written()
		r := h.do("PATCH", "/v1/wallets/"+wal, backendKey, tc.body)
		if r.Status != 400 {
			t.Fatalf("%v: status %d: %s", tc.body, r.Status, r.Body)
		}
		_ = r.ErrorCode(t)
		if after := h.written(); after != before {
			t.Fatalf("%v wrote rows:\nbefore %s\nafter  %s", tc.body, before, after)
		}
	}
	// alert_below is shown, and null removes it.
	r := h.do("PATCH", "/v1/wallets/"+wal, backendKey, patch(map[string]any{"alert_below": "10.00"}))
	mustStatus(t, r, 200)
	if s := r.JSON(t)["settings"].(map[string]any); s["alert_below"] != "10.00" {
		t.Fatalf("alert_below %v", s["alert_below"])
	}
	r = h.do("PATCH", "/v1/wallets/"+wal, backendKey, patch(map[string]any{"alert_below": nil}))
	mustStatus(t, r, 200)
	if s := r.JSON(t)["settings"].(map[string]any); s["alert_below"] != nil {
		t.Fatalf("alert_below %v after null", s["alert_below"])
	}
}
