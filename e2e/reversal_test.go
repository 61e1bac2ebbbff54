package e2e

import (
	"context"
	"testing"
	"time"
)

// TestSimulatedSEPALoadReversal runs a paid wallet load by SEPA direct debit
// (pm_sim_sepa_return) through the API and the worker subprocess: the simulated bank
// settles it (the wallet is credited), 30.00 of it is spent on an invoice, then the bank
// returns the debit: the wallet gives back the 20.00 it still holds (never below zero), an
// invoice for the other 30.00 is opened and collected by the usual payment workflow (the
// customer's default card by then), with one wallet.load_reversed — and the same return
// delivered again changes nothing. The test holds the simulated return until the spend is
// done, by moving its due time (the simulated bank's clock).
func TestSimulatedSEPALoadReversal(t *testing.T) {
	s := newStack(t, "1s,1s,1s", "PAYORCH_SIM_SEPA_DELAY=1s")
	s.startWorker()
	ctx := context.Background()

	var cust map[string]any
	if code := s.call("POST", "/v1/customers", map[string]any{"name": "Sepa", "email": "sepa@example.com", "currency": "EUR"}, &cust); code != 201 {
		t.Fatalf("create customer: %d %v", code, cust)
	}
	custID := cust["id"].(string)
	if code := s.call("POST", "/v1/customers/"+custID+"/payment-methods", map[string]any{"type": "direct_debit",
		"provider_id": "pm_sim_sepa_return", "default": true}, nil); code != 201 {
		t.Fatalf("add direct debit: %d", code)
	}
	var w map[string]any
	if code := s.call("POST", "/v1/wallets", map[string]any{"customer_id": custID}, &w); code != 201 {
		t.Fatalf("create wallet: %d %v", code, w)
	}
	wallet := w["id"].(string)
	var ld map[string]any
	if code := s.call("POST", "/v1/wallets/"+wallet+"/load", map[string]any{"amount": "50.00", "type": "paid"}, &ld); code != 202 {
		t.Fatalf("paid load by direct debit: %d %v, want 202 pending", code, ld)
	}
	loadID := ld["id"].(string)
	getLoad := func() map[string]any {
		var out map[string]any
		if code := s.call("GET", "/v1/wallets/"+wallet+"/loads/"+loadID, nil, &out); code != 200 {
			t.Fatalf("get load: %d %v", code, out)
		}
		return out
	}
	s.until("the direct debit settles and the wallet is credited", time.Minute, func() bool { return getLoad()["status"] == "settled" })
	// Hold the bank's return (already re-armed by the settlement's delivery) until the spend.
	if _, err := s.pool.Exec(ctx, `UPDATE sim_charges SET event_due_at = now() + interval '1 day' WHERE payment_method_ref = 'pm_sim_sepa_return'`); err != nil {
		t.Fatal(err)
	}
	s.until("the return is armed", 30*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM sim_charges WHERE payment_method_ref = 'pm_sim_sepa_return' AND event_status = 'reversed' AND event_delivered_at IS NULL`) == 1
	})
	if _, err := s.pool.Exec(ctx, `UPDATE sim_charges SET event_due_at = now() + interval '1 day' WHERE payment_method_ref = 'pm_sim_sepa_return'`); err != nil {
		t.Fatal(err)
	}

	// A card becomes the default; an invoice of 30.00 is paid by the wallet.
	if code := s.call("POST", "/v1/customers/"+custID+"/payment-methods", map[string]any{"type": "card", "provider_id": "pm_card_visa",
		"exp_month": 12, "exp_year": time.Now().Year() + 2, "last4": "4242", "default": true}, nil); code != 201 {
		t.Fatalf("add card: %d", code)
	}
	var inv map[string]any
	if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": custID, "lines": []map[string]any{{"description": "Plan", "amount": "30.00"}}}, &inv); code != 201 && code != 202 {
		t.Fatalf("create invoice: %d %v", code, inv)
	}
	balance := func() string {
		var out map[string]any
		s.call("GET", "/v1/wallets/"+wallet, nil, &out)
		return out["balance"].(string)
	}
	s.until("the wallet pays the invoice", time.Minute, func() bool { return balance() == "20.00" })

	// The bank returns the debit.
	if _, err := s.pool.Exec(ctx, `UPDATE sim_charges SET event_due_at = now() WHERE payment_method_ref = 'pm_sim_sepa_return'`); err != nil {
		t.Fatal(err)
	}
	s.until("the load is reversed", time.Minute, func() bool { return getLoad()["reversal"] != nil })
	rev := getLoad()["reversal"].(map[string]any)
	if rev["taken_back"] != "20.00" || rev["invoiced"] != "30.00" || rev["amount"] != "50.00" || rev["reason"] != "reversed" || rev["invoice_id"] == nil {
		t.Fatalf("reversal %v", rev)
	}
	if b := balance(); b != "0.00" {
		t.Fatalf("balance %s after the reversal, want 0.00", b)
	}
	restID := rev["invoice_id"].(string)
	var rest map[string]any
	s.until("the invoice for the rest is collected by its payment workflow (card)", time.Minute, func() bool {
		s.call("GET", "/v1/invoices/"+restID, nil, &rest)
		return rest["status"] == "paid"
	})
	if rest["total"] != "30.00" || s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'card' AND status = 'settled'`, restID) != 1 {
		t.Fatalf("invoice for the rest %v", rest)
	}
	if n := s.scalar(`SELECT count(*) FROM events WHERE type = 'wallet.load_reversed' AND resource_id = $1`, loadID); n != 1 {
		t.Fatalf("%d wallet.load_reversed events, want 1", n)
	}

	// The same return delivered again: nothing changes.
	if _, err := s.pool.Exec(ctx, `UPDATE sim_charges SET event_delivered_at = NULL, event_due_at = now() WHERE payment_method_ref = 'pm_sim_sepa_return'`); err != nil {
		t.Fatal(err)
	}
	s.until("the duplicate return is delivered", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM sim_charges WHERE payment_method_ref = 'pm_sim_sepa_return' AND event_delivered_at IS NOT NULL`) == 1
	})
	if n := s.scalar(`SELECT count(*) FROM events WHERE type = 'wallet.load_reversed'`); n != 1 {
		t.Fatalf("%d wallet.load_reversed events after a duplicate return, want 1", n)
	}
	if n := s.scalar(`SELECT count(*) FROM wallet_load_reversals`); n != 1 {
		t.Fatalf("%d reversals after a duplicate return", n)
	}
	if n := s.scalar(`SELECT count(*) FROM invoices WHERE customer_id = $1 AND kind = 'standard'`, custID); n != 2 {
		t.Fatalf("%d standard invoices, want the spend and the rest", n)
	}
	if b := balance(); b != "0.00" {
		t.Fatalf("balance %s after the duplicate", b)
	}
	if n := s.scalar(`SELECT count(*) FROM wallets w WHERE w.balance <> (SELECT coalesce(sum(CASE WHEN type IN ('debit', 'expiry') THEN -amount ELSE amount END), 0) FROM wallet_transactions t WHERE t.wallet_id = w.id)`); n != 0 {
		t.Fatal("a wallet whose balance is not its ledger's sum")
	}
}
