package e2e

import (
	"context"
	"testing"
	"time"

	"payorch/ledger"
	"payorch/ledger/ledgertest"
)

// TestAutoTopUpEndToEnd: the API in process, the worker as a real subprocess, the
// simulated provider. An invoice collected by its workflow takes 15.00 of a 30.00 wallet
// whose auto top-up loads 50.00 below 20.00: the debit's transaction requests the auto
// load and the worker's sweeper starts it; it settles (balance 65.00, a receipt). Then, with
// no worker running, another debit requests a load: it waits, committed, until a fresh
// worker process starts it — nothing is lost when no process was there to start it.
func TestAutoTopUpEndToEnd(t *testing.T) {
	s := newStack(t, "1h,1h,1h")
	ctx := context.Background()
	cust := s.newCustomer("Topup", "pm_card_visa")
	var w map[string]any
	if code := s.call("POST", "/v1/wallets", map[string]any{"customer_id": cust, "settings": map[string]any{
		"auto_top_up": map[string]any{"below": "20.00", "amount": "50.00"}, "alert_below": "10.00"}}, &w); code != 201 {
		t.Fatalf("create wallet: %d %v", code, w)
	}
	wal := w["id"].(string)
	var ld map[string]any
	if code := s.call("POST", "/v1/wallets/"+wal+"/load", map[string]any{"amount": "30.00", "type": "free"}, &ld); code != 201 {
		t.Fatalf("free load: %d %v", code, ld)
	}
	s.startWorker()
	var inv map[string]any
	if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust,
		"lines": []map[string]any{{"description": "usage", "amount": "15.00"}}}, &inv); code != 201 && code != 202 {
		t.Fatalf("create invoice: %d %v", code, inv)
	}
	s.until("the invoice paid by the wallet and the auto load settled", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices WHERE id = $1 AND status = 'paid'`, inv["id"]) == 1 &&
			s.scalar(`SELECT count(*) FROM wallet_loads WHERE wallet_id = $1 AND auto_top_up = 'below' AND status = 'settled'`, wal) == 1
	})
	if b := ledgertest.Balance(t, s.pool, wal).StringFixed(2); b != "65.00" {
		t.Fatalf("balance %s, want 65.00 (30 − 15 + 50)", b)
	}
	if n := s.scalar(`SELECT count(*) FROM receipts WHERE wallet_id = $1`, wal); n != 1 {
		t.Fatalf("%d receipts, want 1", n)
	}

	// No worker: the request is a committed row; a fresh worker starts it.
	s.killWorker()
	d, err := ledger.New(s.pool).DebitForInvoice(ctx, ledgertest.Invoice(t, s.pool, cust, "50.00"), 1)
	if err != nil || d.Automation.AutoTopUpLoadID == "" {
		t.Fatalf("debit to 15.00: %+v, %v", d, err)
	}
	s.startWorker()
	s.until("the second auto load settled by a fresh worker", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM wallet_loads WHERE id = $1 AND status = 'settled'`, d.Automation.AutoTopUpLoadID) == 1
	})
	if b := ledgertest.Balance(t, s.pool, wal).StringFixed(2); b != "65.00" {
		t.Fatalf("balance %s, want 65.00 (65 − 50 + 50)", b)
	}
	ledgertest.AssertBalanced(t, s.pool)
}
