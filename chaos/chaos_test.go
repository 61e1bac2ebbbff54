package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChaosShort is `make chaos` in short, inside `make test`: 200 invoices of every
// simulated behaviour for 50 customers, clients hanging up and retrying with the same key,
// the worker killed with SIGKILL every 3 to 9 s, the API restarted every 15 to 45 s and
// PostgreSQL restarted once (immediate shutdown). Every invariant of check.go must hold:
// zero violations. Then, with everything still up, it breaks the state three ways behind
// payorch's back — a wallet balance that is no longer the sum of its ledger, a second
// provider charge for one invoice attempt, a webhook the receiver never got — and each
// must be reported, so a check that cannot fail does not pass for one that holds.
// CHAOS_SEED replays a run's choices.
func TestChaosShort(t *testing.T) {
	k, err := loadKnobs(func(name string) string {
		if name == "CHAOS_SEED" {
			return os.Getenv(name)
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	k.Invoices, k.KillEvery, k.APIEvery, k.Tail, k.SettleTimeout = 200, 6*time.Second, 30*time.Second, 20*time.Second, 5*time.Minute
	t.Logf("seed %d (CHAOS_SEED=%d replays the same choices)", k.Seed, k.Seed)
	var log bytes.Buffer
	r, err := run(context.Background(), k, &log, func(ctx context.Context, st *runState, r *report) error {
		if len(r.Violations) > 0 {
			return nil // reported below
		}
		return proveChecksBite(ctx, st)
	})
	if r != nil {
		var out bytes.Buffer
		r.print(&out)
		t.Logf("progress:\n%s\n%s", log.String(), out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Violations) > 0 {
		t.Fatalf("%d violations (see the report above)", len(r.Violations))
	}
	if r.WorkerKills == 0 || r.APIRestarts == 0 || r.PostgresRestarts != 1 {
		t.Fatalf("faults not injected: %d worker kills, %d API restarts, %d PostgreSQL restarts", r.WorkerKills, r.APIRestarts, r.PostgresRestarts)
	}
}

// proveChecksBite breaks the settled state three ways and checks each is reported.
func proveChecksBite(ctx context.Context, st *runState) error {
	pool := st.s.pool
	recheck := func(what, want string) error {
		r := &report{}
		if err := st.check(ctx, r); err != nil {
			return err
		}
		for _, v := range r.Violations {
			if strings.Contains(v, want) {
				return nil
			}
		}
		return fmt.Errorf("%s: not reported (want a violation containing %q; got %q)", what, want, r.Violations)
	}
	// A wallet whose cached balance moved without a ledger row.
	var wallet string
	if err := pool.QueryRow(ctx, `SELECT wallet_id FROM wallet_transactions LIMIT 1`).Scan(&wallet); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `UPDATE wallets SET balance = balance + 1 WHERE id = $1`, wallet); err != nil {
		return err
	}
	if err := recheck("a wallet off its ledger", "but its ledger sums to"); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `UPDATE wallets SET balance = balance - 1 WHERE id = $1`, wallet); err != nil {
		return err
	}
	// A second provider charge for an invoice attempt (under another key).
	if _, err := pool.Exec(ctx, `INSERT INTO sim_charges (id, idempotency_key, payment_method_ref, customer_ref, amount, currency, status, metadata)
		SELECT 'sim_chaosdup', idempotency_key || ':again', payment_method_ref, customer_ref, amount, currency, status, metadata
		FROM sim_charges WHERE metadata ? 'invoice_id' AND status = 'settled' LIMIT 1`); err != nil {
		return err
	}
	if err := recheck("an attempt charged twice", "charged 2 times by the provider"); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `DELETE FROM sim_charges WHERE id = 'sim_chaosdup'`); err != nil {
		return err
	}
	// A webhook the receiver never got.
	st.rc.mu.Lock()
	for id := range st.rc.got {
		delete(st.rc.got, id)
		break
	}
	st.rc.mu.Unlock()
	return recheck("a lost webhook", "never reached the receiver")
}
