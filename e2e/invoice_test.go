package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestWorkerCrashNeverChargesTwice drives the HTTP API with a short retry schedule while
// the worker process is killed (SIGKILL) and restarted in the middle of collection: every
// invoice ends paid, with exactly one provider charge per idempotency key and exactly the
// invoice's total charged.
func TestWorkerCrashNeverChargesTwice(t *testing.T) {
	s := newStack(t, "1s,2s,3s")
	s.startWorker()
	const n = 6
	var invoiceIDs []string
	for i := 0; i < n; i++ {
		cust := s.newCustomer(fmt.Sprint("Crash", i), "pm_sim_fail2_then_settle")
		var inv map[string]any
		if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust,
			"lines": []map[string]any{{"description": "Plan", "amount": "19.99"}}}, &inv); code != 201 {
			t.Fatalf("create invoice: %d %v", code, inv)
		}
		invoiceIDs = append(invoiceIDs, inv["id"].(string))
	}
	// Let every invoice fail its first attempt and record its retry, then crash the worker.
	s.until("a first failed attempt and its retry scheduled on every invoice", 60*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices i WHERE next_retry_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM invoice_transactions t WHERE t.invoice_id = i.id AND t.status = 'failed')`) == n
	})
	s.killWorker()
	// The retries fall due while no worker runs.
	s.until("every recorded retry due", 30*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices WHERE next_retry_at <= now()`) == n
	})
	s.startWorker()
	// Crash once more while the retries are under way.
	s.until("second attempts under way", 60*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM invoice_transactions WHERE attempt >= 2`) >= n/2
	})
	s.killWorker()
	s.startWorker()
	s.until("every invoice paid", 90*time.Second, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices WHERE status = 'paid'`) == n
	})
	for _, id := range invoiceIDs {
		var inv struct {
			Status       string `json:"status"`
			AmountPaid   string `json:"amount_paid"`
			AttemptCount int    `json:"attempt_count"`
			Transactions []struct {
				Status string `json:"status"`
			} `json:"transactions"`
		}
		s.call("GET", "/v1/invoices/"+id, nil, &inv)
		if inv.Status != "paid" || inv.AmountPaid != "19.99" || len(inv.Transactions) != 3 || inv.AttemptCount != 3 {
			t.Errorf("%s: %+v", id, inv)
		}
	}
	if dup := s.scalar(`SELECT count(*) - count(DISTINCT idempotency_key) FROM sim_charges`); dup != 0 {
		t.Fatalf("%d duplicate provider charges", dup)
	}
	if got := s.scalar(`SELECT count(*) FROM sim_charges`); got != 3*n {
		t.Fatalf("%d provider charges, want %d (3 per invoice)", got, 3*n)
	}
	if got := s.scalar(`SELECT count(*) FROM sim_charges WHERE status = 'settled'`); got != n {
		t.Fatalf("%d settled charges, want %d", got, n)
	}
	if bad := s.scalar(`SELECT count(*) FROM invoices i WHERE amount_paid <> (SELECT coalesce(sum(amount), 0) FROM sim_charges c WHERE c.status = 'settled' AND c.metadata->>'invoice_id' = i.id)`); bad != 0 {
		t.Fatalf("%d invoices whose amount_paid differs from what the provider captured", bad)
	}
}
