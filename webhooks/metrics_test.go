package webhooks

import (
	"testing"

	"payorch/metrics"
	"payorch/metrics/metricstest"
	"payorch/outbox"
)

// TestDispatcherCountsPaymentsWalletAndDeliveries: the events the dispatcher fans out are
// counted once (payments by outcome and error_type, wallet movements, events by type) and
// each delivery attempt by result, with the delivered one's lag; a scrape shows them.
func TestDispatcherCountsPaymentsWalletAndDeliveries(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	f.endpoint(rc.URL, nil)
	h := metrics.Handler()
	before := metricstest.Scrape(t, h)

	f.emit(outbox.InvoiceTransactionFailed, "inv_m1", map[string]any{"id": "inv_m1", "transactions": []map[string]any{
		{"attempt": 1, "status": "failed", "error_type": "payment_method_expired"},
		{"attempt": 2, "status": "failed", "error_type": "payment_method_declined"},
	}})
	f.emit(outbox.InvoiceSettled, "inv_m2", map[string]any{"id": "inv_m2", "status": "paid"})
	f.emit(outbox.WalletCredited, "wtx_m1", map[string]any{"id": "wtx_m1", "type": "credit_free", "amount": "5.00"})
	f.emit(outbox.WalletCreditExpired, "wtx_m2", map[string]any{"id": "wtx_m2", "type": "expiry", "amount": "2.00"})
	f.emit(outbox.WalletLoadReversed, "lod_m1", map[string]any{"object": "wallet_load_reversal", "load_id": "lod_m1", "taken_back": "3.00"})
	if st := f.runOnce(); st.Queued != 5 || st.Delivered != 5 {
		t.Fatalf("stats %+v", st)
	}
	// A second run fans nothing out again: nothing is counted twice.
	f.runOnce()
	after := metricstest.Scrape(t, h)
	moved := func(name, labels string) float64 {
		return metricstest.Value(after, name, labels) - metricstest.Value(before, name, labels)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"payorch_payments_total", `error_type="payment_method_declined",outcome="failed"`, 1},
		{"payorch_payments_total", `error_type="payment_method_expired",outcome="failed"`, 0},
		{"payorch_payments_total", `error_type="",outcome="succeeded"`, 1},
		{"payorch_wallet_movements_total", `movement="credited",type="credit_free"`, 1},
		{"payorch_wallet_movements_total", `movement="expired",type="expiry"`, 1},
		{"payorch_wallet_movements_total", `movement="load_reversed",type="debit"`, 1},
		{"payorch_events_total", `type="invoice.transaction_failed"`, 1},
		{"payorch_webhook_deliveries_total", `result="delivered"`, 5},
		{"payorch_webhook_delivery_lag_seconds_count", "", 5},
	} {
		if got := moved(c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
