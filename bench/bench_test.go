package main

import (
	"context"
	"strings"
	"testing"
)

// TestBenchSmoke runs P2 and P3 with tiny sizes on real PostgreSQL and Temporal (so
// `make bench`'s program is exercised by `make test` in a few seconds; no timing is
// asserted), then shows P2's own check is real: with one wallet.debited event removed,
// checkP2 refuses the run.
func TestBenchSmoke(t *testing.T) {
	ctx := context.Background()
	k := knobs{P2N: 40, P2C: 4, P3N: 20, P3C: 4}
	e, err := startEnv(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	p2, err := runP2(ctx, e, k)
	if err != nil {
		t.Fatalf("P2: %v", err)
	}
	if r, _ := p2["ratio"].(float64); r <= 0 {
		t.Fatalf("P2 ratio %v", p2["ratio"])
	}
	p3, err := runP3(ctx, e, k)
	if err != nil {
		t.Fatalf("P3: %v", err)
	}
	if r, _ := p3["ratio"].(float64); r <= 0 {
		t.Fatalf("P3 ratio %v", p3["ratio"])
	}

	// The hot wallet's debits are all checked: drop one event and the check must fail.
	var walletID, invoiceID string
	if err := e.Pool.QueryRow(ctx, `SELECT wallet_id, invoice_id FROM wallet_transactions WHERE type = 'debit' ORDER BY seq LIMIT 1`).Scan(&walletID, &invoiceID); err != nil {
		t.Fatal(err)
	}
	prefix := invoiceID[:strings.LastIndex(invoiceID, "_")+1]
	if err := checkP2(ctx, e, walletID, prefix, k.P2N+min(k.P2C*4, k.P2N)+max(1, k.P2N/4)); err != nil {
		t.Fatalf("the untouched run fails its check: %v", err)
	}
	if _, err := e.Pool.Exec(ctx, `DELETE FROM events WHERE id = (SELECT id FROM events WHERE type = 'wallet.debited' LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if err := checkP2(ctx, e, walletID, prefix, k.P2N+min(k.P2C*4, k.P2N)+max(1, k.P2N/4)); err == nil || !strings.Contains(err.Error(), "wallet.debited") {
		t.Fatalf("a missing wallet.debited event passed the check: %v", err)
	}
}
