package api

import (
	"net/http"
	"sync"
	"testing"
)

func TestIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	body := map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR"}
	first := h.do("POST", "/v1/customers", backendKey, body, "Idempotency-Key", "k-1")
	mustStatus(t, first, http.StatusCreated)
	again := h.do("POST", "/v1/customers", backendKey, body, "Idempotency-Key", "k-1")
	mustStatus(t, again, http.StatusCreated)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay differs:\n%s\n%s", first.Body, again.Body)
	}
	if n := h.count("customers"); n != 1 {
		t.Fatalf("%d customers after a replay, want 1", n)
	}
	other := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "B", "email": "b@example.com", "currency": "EUR"}, "Idempotency-Key", "k-1")
	mustStatus(t, other, http.StatusConflict)
	if other.ErrorCode(t) != "idempotency_key_reused" {
		t.Fatalf("code: %s", other.Body)
	}
	// An error response is stored and replayed too (4xx): the same bad body gives the same answer.
	bad := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "A"}, "Idempotency-Key", "k-2")
	mustStatus(t, bad, 400)
	mustStatus(t, h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "A"}, "Idempotency-Key", "k-2"), 400)
	// The same key from another API key is another scope.
	if n := h.count("customers"); n != 1 {
		t.Fatalf("%d customers, want 1", n)
	}
	mustStatus(t, h.do("POST", "/v1/customers", backendKey, body, "Idempotency-Key", string(make([]byte, 300))), 400)
}

// TestIdempotencyConcurrent sends the same keyed request from many goroutines: exactly
// one customer is created, and every answer is the first response or a 409 in-progress.
func TestIdempotencyConcurrent(t *testing.T) {
	h := newHarness(t)
	body := map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR"}
	var wg sync.WaitGroup
	results := make([]response, 16)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = h.do("POST", "/v1/customers", backendKey, body, "Idempotency-Key", "same")
		}(i)
	}
	wg.Wait()
	var created string
	for _, r := range results {
		switch r.Status {
		case 201:
			if created == "" {
				created = string(r.Body)
			} else if created != string(r.Body) {
				t.Fatalf("two different 201 bodies:\n%s\n%s", created, r.Body)
			}
		case 409:
			if c := r.ErrorCode(t); c != "idempotency_key_in_use" {
				t.Fatalf("unexpected 409 %s", c)
			}
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if n := h.count("customers"); n != 1 {
		t.Fatalf("%d customers, want exactly 1", n)
	}
}
