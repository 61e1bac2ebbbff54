package api

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"payorch/store"
)

// TestLockedWalletDoesNotStallOthers: with one wallet row held locked by another
// transaction and more loads at it than the pool has connections, an unrelated customer
// read still answers, and the loads fail with a typed, retryable 503 (lock_timeout)
// instead of hanging; nothing is written, and once the lock is gone a load succeeds.
func TestLockedWalletDoesNotStallOthers(t *testing.T) {
	_, url := env.Postgres.NewPool(t)
	pool, err := store.OpenWith(context.Background(), url, store.PoolOptions{MaxConns: 4, LockTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarness(t)
	h.pool = pool
	h.srv = New(Deps{Pool: pool, Keys: h.srv.keys, Logger: h.srv.log})

	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR"})
	mustStatus(t, r, 201)
	cust := r.JSON(t)["id"].(string)
	r = h.do("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust})
	mustStatus(t, r, 201)
	wallet := r.JSON(t)["id"].(string)
	r = h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Bob", "email": "bob@example.com", "currency": "EUR"})
	mustStatus(t, r, 201)
	other := r.JSON(t)["id"].(string)

	// Another process holds the wallet row.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(func() { _ = tx.Rollback(context.Background()) })
	defer release()
	if _, err := tx.Exec(context.Background(), "SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet); err != nil {
		t.Fatal(err)
	}
	before := h.allRows()

	const loads = 8
	results := make(chan response, loads)
	for i := 0; i < loads; i++ {
		go func() {
			results <- h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, map[string]any{"amount": "10.00", "type": "free"})
		}()
	}
	read := make(chan response, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the loads are queued first
		read <- h.do("GET", "/v1/customers/"+other, supportKey, nil)
	}()
	const bound = 10 * time.Second
	select {
	case r := <-read:
		mustStatus(t, r, 200)
	case <-time.After(bound):
		release()
		t.Fatalf("GET /v1/customers/{id} did not answer within %s while one wallet row was locked", bound)
	}
	for i := 0; i < loads; i++ {
		select {
		case r := <-results:
			mustStatus(t, r, 503)
			if r.ErrorCode(t) != "resource_busy" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("load: %s (Retry-After %q)", r.Body, r.Header.Get("Retry-After"))
			}
		case <-time.After(bound):
			release()
			t.Fatalf("a load at the locked wallet still hangs after %s", bound)
		}
	}
	if after := h.allRows(); after != before {
		t.Fatalf("busy loads wrote rows:\nbefore %s\nafter  %s", before, after)
	}
	release()
	mustStatus(t, h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, map[string]any{"amount": "10.00", "type": "free"}), 201)
}
