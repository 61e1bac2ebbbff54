package api

import (
	"context"
	"testing"
)

// TestCreatedOnceWhenTheAnswerWasNotRecorded: a customer, a wallet or a webhook endpoint
// was created, then the run ended before its answer was recorded (the API killed, or the
// client hung up while the commit raced the cancelled context: the run answered 5xx). The
// key row is left as such a run leaves it. The retry with the same key and body must get
// the same resource — not a second customer or endpoint, not a 409 for the wallet the
// first run opened. Found by `make chaos` (a customer's retry answered external_id_taken).
func TestCreatedOnceWhenTheAnswerWasNotRecorded(t *testing.T) {
	h := newHarness(t)
	forget := func(key string) {
		t.Helper()
		if _, err := h.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL, locked_at = '-infinity' WHERE key = $1`, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, path, key, table string
		body                   func() map[string]any
	}{
		{"customer", "/v1/customers", "cus-once", "customers", func() map[string]any {
			return map[string]any{"name": "Once", "email": "once@example.com", "currency": "EUR"}
		}},
		{"customer with external_id", "/v1/customers", "cus-ext-once", "customers", func() map[string]any {
			return map[string]any{"name": "Ext", "email": "ext@example.com", "currency": "EUR", "external_id": "crm-42"}
		}},
		{"webhook endpoint", "/v1/webhook-endpoints", "ep-once", "webhook_endpoints", func() map[string]any {
			return map[string]any{"url": "https://hooks.example.com/payorch"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.count(tc.table)
			first := h.do("POST", tc.path, backendKey, tc.body(), "Idempotency-Key", tc.key)
			mustStatus(t, first, 201)
			forget(tc.key)
			again := h.do("POST", tc.path, backendKey, tc.body(), "Idempotency-Key", tc.key)
			if again.Status != 201 || again.JSON(t)["id"] != first.JSON(t)["id"] {
				t.Fatalf("the retry of a %s created again: %d %s (first %s)", tc.name, again.Status, again.Body, first.Body)
			}
			if n := h.count(tc.table); n != before+1 {
				t.Fatalf("%d new rows in %s for one request", n-before, tc.table)
			}
			if s, ok := first.JSON(t)["secret"]; ok && again.JSON(t)["secret"] != s {
				t.Fatalf("the retry shows another secret: %v, first %v", again.JSON(t)["secret"], s)
			}
		})
	}
	t.Run("wallet", func(t *testing.T) {
		cr := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "W", "email": "w@example.com", "currency": "EUR"})
		mustStatus(t, cr, 201)
		body := map[string]any{"customer_id": cr.JSON(t)["id"], "settings": map[string]any{"auto_debit": true}}
		first := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-once")
		mustStatus(t, first, 201)
		forget("wal-once")
		again := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-once")
		if again.Status != 201 || again.JSON(t)["id"] != first.JSON(t)["id"] {
			t.Fatalf("the retry of the wallet's creation: %d %s (first %s)", again.Status, again.Body, first.Body)
		}
		// Another key for the same customer is still refused: one wallet per customer.
		other := h.do("POST", "/v1/wallets", backendKey, body, "Idempotency-Key", "wal-other")
		mustStatus(t, other, 409)
	})
}
