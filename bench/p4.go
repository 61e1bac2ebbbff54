package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"payorch/customers"
)

// P4's card declines with a retryable code (insufficient funds), so each invoice parks in
// its retry timer (the schedule is an hour: only the new card wakes it).
const (
	p4DecliningCard = "pm_card_chargeDeclinedInsufficientFunds"
	p4Schedule      = "1h,1h,1h"
	p4Total         = "12.00"
)

// runP4 parks k.Parked invoices in retry timers, measures what that costs, then gives every
// customer a card that settles (through the API, which tells the waiting workflows) and
// waits for all to be paid.
func runP4(ctx context.Context, e *benchEnv, k knobs) (result, error) {
	n := k.Parked
	w, err := e.startWorker(invoiceQueue)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	s, err := e.startAPI(ctx, invoiceQueue, p4Schedule)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	svc := customers.NewService(e.Pool)
	custs := make([]string, n)
	fmt.Fprintf(os.Stderr, "    setting up %d customers (card %s)\n", n, p4DecliningCard)
	if _, _, err := loop(ctx, n, k.P4C, func(ctx context.Context, i int) error {
		c, err := svc.Create(ctx, customers.CreateInput{Name: fmt.Sprint("Parked ", i), Email: fmt.Sprintf("parked%d@example.com", i), Currency: "EUR"})
		if err != nil {
			return err
		}
		custs[i] = c.ID
		_, err = svc.AddPaymentMethod(ctx, c.ID, cardInput(p4DecliningCard))
		return err
	}); err != nil {
		return nil, err
	}
	pgBefore, tdbBefore, err := sizes(ctx, e)
	if err != nil {
		return nil, err
	}
	rss0 := w.RSS()
	// Sample the worker's RSS through the phase (VmHWM gives the peak too).
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		for sampleCtx.Err() == nil {
			if r := w.RSS(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	fmt.Fprintf(os.Stderr, "    parking %d invoices\n", n)
	invIDs := make([]string, n)
	t0 := time.Now()
	createElapsed, _, err := loop(ctx, n, k.P4C, func(ctx context.Context, i int) error {
		id, err := createInvoice(ctx, s, fmt.Sprintf("p4-inv-%d", i), custs[i], p4Total)
		invIDs[i] = id
		return err
	})
	if err != nil {
		return nil, err
	}
	parkedQuery := `SELECT count(*) FROM invoices i WHERE i.id = ANY($1) AND i.status IN ('to_pay', 'error')
		AND EXISTS (SELECT 1 FROM invoice_transactions t WHERE t.invoice_id = i.id AND t.status = 'failed')`
	if err := waitFor(ctx, "every invoice's first attempt declined", 2*time.Hour, w, func() (bool, error) {
		c, err := e.scalar(ctx, parkedQuery, invIDs)
		return c == int64(n), err
	}); err != nil {
		return nil, err
	}
	parkElapsed := time.Since(t0)
	time.Sleep(2 * time.Second) // let the last workflow tasks start their timers
	rssParked := w.RSS()
	pgParked, tdbParked, err := sizes(ctx, e)
	if err != nil {
		return nil, err
	}
	if c, err := e.scalar(ctx, `SELECT count(*) FROM invoices WHERE id = ANY($1) AND status = 'paid'`, invIDs); err != nil || c != 0 {
		return nil, fmt.Errorf("check failed: %d invoices paid while parked (%v)", c, err)
	}

	fmt.Fprintf(os.Stderr, "    resuming %d invoices (a new card that settles)\n", n)
	t1 := time.Now()
	if _, _, err := loop(ctx, n, k.P4C, func(ctx context.Context, i int) error {
		code, err := s.call(ctx, "POST", "/v1/customers/"+custs[i]+"/payment-methods", fmt.Sprintf("p4-pm2-%d", i), map[string]any{
			"type": "card", "provider_id": "pm_card_visa", "exp_month": 12, "exp_year": time.Now().Year() + 2, "last4": "4242", "default": true}, nil)
		if err == nil && code != 201 {
			err = fmt.Errorf("add payment method: %d (invoices not told)", code)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "every parked invoice paid", 2*time.Hour, w, func() (bool, error) {
		c, err := e.scalar(ctx, `SELECT count(*) FROM invoices WHERE id = ANY($1) AND status = 'paid' AND amount_paid = total`, invIDs)
		return c == int64(n), err
	}); err != nil {
		return nil, err
	}
	resumeElapsed := time.Since(t1)
	stopSampling()
	for _, c := range []struct {
		what, query string
		want        int64
	}{
		{"declined charges", `SELECT count(*) FROM sim_charges WHERE metadata->>'invoice_id' = ANY($1) AND status = 'failed'`, int64(n)},
		{"settled charges", `SELECT count(*) FROM sim_charges WHERE metadata->>'invoice_id' = ANY($1) AND status = 'settled'`, int64(n)},
		{"distinct charge keys", `SELECT count(DISTINCT idempotency_key) FROM sim_charges WHERE metadata->>'invoice_id' = ANY($1)`, int64(2 * n)},
	} {
		got, err := e.scalar(ctx, c.query, invIDs)
		if err != nil {
			return nil, err
		}
		if got != c.want {
			return nil, fmt.Errorf("check failed: %s: %d, want %d", c.what, got, c.want)
		}
	}
	mib := func(b int64) float64 { return round(float64(b)/(1<<20), 1) }
	r := result{
		"parked": n, "concurrency": k.P4C,
		"create_seconds": round(createElapsed.Seconds(), 1), "park_seconds": round(parkElapsed.Seconds(), 1),
		"parked_per_s":          round(float64(n)/parkElapsed.Seconds(), 1),
		"resume_seconds":        round(resumeElapsed.Seconds(), 1),
		"resumed_paid_per_s":    round(float64(n)/resumeElapsed.Seconds(), 1),
		"worker_rss_start_mib":  mib(rss0),
		"worker_rss_parked_mib": mib(rssParked), "worker_rss_peak_mib": mib(max(peak.Load(), rssParked)),
		"postgres_db_mib":         mib(pgParked),
		"postgres_db_added_mib":   mib(pgParked - pgBefore),
		"postgres_per_invoice_kb": round(float64(pgParked-pgBefore)/1024/float64(n), 1),
		"temporal":                e.TemporalKind,
	}
	if tdbParked >= 0 {
		r["temporal_sqlite_mib"] = mib(tdbParked)
		r["temporal_sqlite_added_mib"] = mib(tdbParked - tdbBefore)
		r["temporal_per_invoice_kb"] = round(float64(tdbParked-tdbBefore)/1024/float64(n), 1)
	}
	// P4 has no side-by-side yardstick; its "ratio" is parked invoices per MiB of worker RSS.
	r["ratio"] = round(float64(n)/max(1, float64(rssParked)/(1<<20)), 1)
	r["ratio_is"] = "parked invoices per MiB of worker RSS"
	return r, nil
}

// cardInput is a default card payment method with the simulated provider id pm.
func cardInput(pm string) customers.PaymentMethodInput {
	month, year, last4, def := int32(12), int32(time.Now().Year()+2), "4242", true
	return customers.PaymentMethodInput{Type: customers.TypeCard, ProviderID: &pm, ExpMonth: &month, ExpYear: &year, Last4: &last4, Default: &def}
}

// sizes returns the payorch database's size and the Temporal dev server's SQLite files'
// (-1 for an external server).
func sizes(ctx context.Context, e *benchEnv) (pg, temporal int64, err error) {
	if err := e.Pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&pg); err != nil {
		return 0, 0, err
	}
	if e.TemporalDB == "" {
		return pg, -1, nil
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(e.TemporalDB + suffix); err == nil {
			temporal += st.Size()
		}
	}
	return pg, temporal, nil
}
