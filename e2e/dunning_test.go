package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestDunningPolicyEndToEnd: with hour-long default retries, a PUT of the dunning policy
// gives processing_error a schedule of seconds; an invoice created afterwards, collected by
// the worker process, fails twice with processing_error and is paid seconds later, on
// that schedule.
func TestDunningPolicyEndToEnd(t *testing.T) {
	// Delays of seconds are below the API's floor of a minute: the test setup lowers it,
	// as PAYORCH_DUNNING_MIN_DELAY=1s does for a development stack.
	s := newStackWith(t, stackOptions{schedule: "1h,1h,1h", dunningMinDelay: time.Second})
	var policy map[string]any
	if code := s.call("PUT", "/v1/settings/dunning", map[string]any{"default": []string{"1h", "1h", "1h"},
		"by_error_type": map[string]any{"processing_error": []string{"1s", "2s"}}}, &policy); code != http.StatusOK {
		t.Fatalf("PUT /v1/settings/dunning: %d %v", code, policy)
	}
	s.startWorker()
	cust := s.newCustomer("Dunning", "pm_sim_fail2_then_settle") // processing_error twice, then settles
	var inv map[string]any
	if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust,
		"lines": []map[string]any{{"description": "Plan", "amount": "20.00"}}}, &inv); code != http.StatusCreated {
		t.Fatalf("create invoice: %d %v", code, inv)
	}
	id := inv["id"].(string)
	s.until("the invoice paid on the processing_error schedule", time.Minute, func() bool {
		return s.scalar(`SELECT count(*) FROM invoices WHERE id = $1 AND status = 'paid'`, id) == 1
	})
	if n := s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND status = 'failed' AND error_type = 'processing_error'`, id); n != 2 {
		t.Fatalf("%d failed processing_error attempts, want 2", n)
	}
}
