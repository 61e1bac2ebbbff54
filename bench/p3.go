package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"payorch/contracts"
)

// P3's task queues have no worker: the phase measures starting collection, not running it.
const (
	p3Queue     = "bench-p3"
	p3BareQueue = "bench-p3-bare"
	p3Customers = 20
)

// runP3 measures POST /v1/invoices (create + start) against bare ExecuteWorkflow starts.
func runP3(ctx context.Context, e *benchEnv, k knobs) (result, error) {
	s, err := e.startAPI(ctx, p3Queue, "1h,12h,24h")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	custs := make([]string, p3Customers)
	for i := range custs {
		if custs[i], err = newCustomer(ctx, s, "p3", i, "pm_card_visa", ""); err != nil {
			return nil, err
		}
	}
	warm := min(k.P3C*2, k.P3N)
	invIDs := make([]string, warm+k.P3N)
	create := func(ctx context.Context, i int) error {
		id, err := createInvoice(ctx, s, fmt.Sprintf("p3-inv-%d", i), custs[i%len(custs)], "10.00")
		invIDs[i] = id
		return err
	}
	if _, _, err := loop(ctx, warm, k.P3C, create); err != nil {
		return nil, err
	}
	apiElapsed, apiLat, err := loop(ctx, k.P3N, k.P3C, func(ctx context.Context, i int) error { return create(ctx, warm+i) })
	if err != nil {
		return nil, err
	}
	stamp := time.Now().UnixNano()
	start := func(ctx context.Context, i int) error {
		_, err := e.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("bench-p3-bare/%d-%d", stamp, i), TaskQueue: p3BareQueue}, bareWorkflowName, "x")
		return err
	}
	if _, _, err := loop(ctx, warm, k.P3C, start); err != nil {
		return nil, err
	}
	bareElapsed, bareLat, err := loop(ctx, k.P3N, k.P3C, func(ctx context.Context, i int) error { return start(ctx, warm+i) })
	if err != nil {
		return nil, err
	}
	// Every invoice stored, its collection started and recorded, its workflow there.
	n, err := e.scalar(ctx, `SELECT count(*) FROM invoices WHERE id = ANY($1) AND status = 'to_pay' AND collection_started_at IS NOT NULL`, invIDs)
	if err != nil {
		return nil, err
	}
	if n != int64(len(invIDs)) {
		return nil, fmt.Errorf("check failed: %d invoices stored with collection started, want %d", n, len(invIDs))
	}
	if _, err := describe(ctx, e.Temporal, []string{contracts.InvoicePaymentWorkflowID(invIDs[0]), contracts.InvoicePaymentWorkflowID(invIDs[len(invIDs)-1])}, 0); err != nil {
		return nil, err
	}
	apiRate := float64(k.P3N) / apiElapsed.Seconds()
	bareRate := float64(k.P3N) / bareElapsed.Seconds()
	p50, p99 := percentile(apiLat, 0.5), percentile(apiLat, 0.99)
	return result{
		"ratio": round(apiRate/bareRate, 3), "api_per_s": round(apiRate, 1), "bare_starts_per_s": round(bareRate, 1),
		"api_p50_ms": p50, "api_p99_ms": p99, "api_p99_over_p50": round(p99/p50, 2),
		"bare_p50_ms": percentile(bareLat, 0.5), "bare_p99_ms": percentile(bareLat, 0.99),
		"n": k.P3N, "concurrency": k.P3C,
	}, nil
}
