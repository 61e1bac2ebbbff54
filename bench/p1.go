package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"payorch/contracts"
)

// Each P1 invoice is 19.99: 5.00 from the customer's wallet, 14.99 from the simulated card.
const (
	p1Total  = "19.99"
	p1Wallet = "5.00"
)

// newCustomer creates a customer through the API with a default simulated card and, when
// wallet is not empty, a wallet (auto_debit on) loaded with that amount for free.
func newCustomer(ctx context.Context, s *apiServer, tag string, i int, card, wallet string) (string, error) {
	var cust struct {
		ID string `json:"id"`
	}
	if _, err := s.call(ctx, "POST", "/v1/customers", fmt.Sprintf("%s-c-%d", tag, i), map[string]any{
		"name": fmt.Sprintf("Bench %s %d", tag, i), "email": fmt.Sprintf("%s%d@example.com", tag, i), "currency": "EUR"}, &cust); err != nil {
		return "", err
	}
	if card != "" {
		if _, err := s.call(ctx, "POST", "/v1/customers/"+cust.ID+"/payment-methods", fmt.Sprintf("%s-pm-%d", tag, i), map[string]any{
			"type": "card", "provider_id": card, "exp_month": 12, "exp_year": time.Now().Year() + 2, "last4": "4242", "default": true}, nil); err != nil {
			return "", err
		}
	}
	if wallet != "" {
		var w struct {
			ID string `json:"id"`
		}
		if _, err := s.call(ctx, "POST", "/v1/wallets", fmt.Sprintf("%s-w-%d", tag, i), map[string]any{
			"customer_id": cust.ID, "settings": map[string]any{"auto_debit": true}}, &w); err != nil {
			return "", err
		}
		if _, err := s.call(ctx, "POST", "/v1/wallets/"+w.ID+"/load", fmt.Sprintf("%s-l-%d", tag, i), map[string]any{
			"amount": wallet, "type": "free"}, nil); err != nil {
			return "", err
		}
	}
	return cust.ID, nil
}

// createInvoice posts one invoice of total for cust and returns its id.
func createInvoice(ctx context.Context, s *apiServer, key, cust, total string) (string, error) {
	var inv struct {
		ID string `json:"id"`
	}
	code, err := s.call(ctx, "POST", "/v1/invoices", key, map[string]any{"customer_id": cust,
		"lines": []map[string]any{{"description": "Plan", "amount": total}}}, &inv)
	if err != nil {
		return "", err
	}
	if code != 201 {
		return "", fmt.Errorf("create invoice: %d (collection not started)", code)
	}
	return inv.ID, nil
}

// runP1 measures invoices paid per second end to end against bare 2-activity workflows.
func runP1(ctx context.Context, e *benchEnv, k knobs) (result, error) {
	w, err := e.startWorker(invoiceQueue)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	s, err := e.startAPI(ctx, invoiceQueue, "1h,12h,24h")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	warm := min(k.C, max(1, k.N/10))
	total := warm + k.N
	custs := make([]string, total)
	fmt.Fprintf(os.Stderr, "    setting up %d customers (card pm_card_visa, wallet %s)\n", total, p1Wallet)
	if _, _, err := loop(ctx, total, k.C, func(ctx context.Context, i int) error {
		id, err := newCustomer(ctx, s, "p1", i, "pm_card_visa", p1Wallet)
		custs[i] = id
		return err
	}); err != nil {
		return nil, err
	}
	invIDs := make([]string, total)
	payOne := func(ctx context.Context, i int) error {
		id, err := createInvoice(ctx, s, fmt.Sprintf("p1-inv-%d", i), custs[i], p1Total)
		if err != nil {
			return err
		}
		invIDs[i] = id
		// Wait for the workflow's end; its result is not read (its shape is the workflow's
		// business): checkP1 checks the outcome from the database.
		return e.Temporal.GetWorkflow(ctx, contracts.InvoicePaymentWorkflowID(id), "").Get(ctx, nil)
	}
	// Warm-up (not timed), then the timed run.
	if _, _, err := loop(ctx, warm, k.C, payOne); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "    %d invoices, concurrency %d\n", k.N, k.C)
	elapsed, lat, err := loop(ctx, k.N, k.C, func(ctx context.Context, i int) error { return payOne(ctx, warm+i) })
	if err != nil {
		return nil, fmt.Errorf("%w\nworker log:\n%s", err, tail(w.logs.String(), 4000))
	}
	invRate := float64(k.N) / elapsed.Seconds()
	if err := checkP1(ctx, e, invIDs); err != nil {
		return nil, err
	}
	wfIDs := make([]string, k.N)
	for i := range wfIDs {
		wfIDs[i] = contracts.InvoicePaymentWorkflowID(invIDs[warm+i])
	}
	invStats, err := describe(ctx, e.Temporal, wfIDs, 5)
	if err != nil {
		return nil, err
	}
	w.Stop()

	// The bare workflow: same server, same worker options, same load shape.
	bw, err := e.startBareWorker(bareQueue)
	if err != nil {
		return nil, err
	}
	defer bw.Stop()
	bareIDs := make([]string, total)
	bareOne := func(ctx context.Context, i int) error {
		id := fmt.Sprintf("bench-bare/%d-%d", time.Now().UnixNano(), i)
		bareIDs[i] = id
		run, err := e.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: bareQueue}, bareWorkflowName, id)
		if err != nil {
			return err
		}
		var out string
		if err := run.Get(ctx, &out); err != nil {
			return err
		}
		if out != id {
			return fmt.Errorf("bare workflow %s returned %q", id, out)
		}
		return nil
	}
	if _, _, err := loop(ctx, warm, k.C, bareOne); err != nil {
		return nil, err
	}
	bareElapsed, bareLat, err := loop(ctx, k.N, k.C, func(ctx context.Context, i int) error { return bareOne(ctx, warm+i) })
	if err != nil {
		return nil, fmt.Errorf("bare: %w\n%s", err, tail(bw.logs.String(), 4000))
	}
	bareRate := float64(k.N) / bareElapsed.Seconds()
	bareStats, err := describe(ctx, e.Temporal, bareIDs[warm:], 5)
	if err != nil {
		return nil, err
	}
	return result{
		"ratio": round(invRate/bareRate, 3), "invoices_per_s": round(invRate, 2), "bare_per_s": round(bareRate, 2),
		"n": k.N, "concurrency": k.C, "temporal": e.TemporalKind,
		"invoice_p50_ms": percentile(lat, 0.5), "invoice_p99_ms": percentile(lat, 0.99),
		"bare_p50_ms": percentile(bareLat, 0.5), "bare_p99_ms": percentile(bareLat, 0.99),
		"invoice_workflow": invStats.json(), "bare_workflow": bareStats.json(),
	}, nil
}

// checkP1 checks from the database that every invoice is paid in full, with one settled
// wallet part of 5.00 and one settled card part, and one provider charge each.
func checkP1(ctx context.Context, e *benchEnv, ids []string) error {
	checks := []struct {
		what  string
		query string
		want  int64
	}{
		{"paid in full", `SELECT count(*) FROM invoices WHERE id = ANY($1) AND status = 'paid' AND amount_paid = total AND total = ` + p1Total, int64(len(ids))},
		{"settled wallet parts of " + p1Wallet, `SELECT count(*) FROM invoice_transactions WHERE invoice_id = ANY($1) AND method = 'wallet' AND status = 'settled' AND amount = ` + p1Wallet, int64(len(ids))},
		{"settled card parts", `SELECT count(*) FROM invoice_transactions WHERE invoice_id = ANY($1) AND method <> 'wallet' AND status = 'settled'`, int64(len(ids))},
		{"provider charges", `SELECT count(*) FROM sim_charges WHERE metadata->>'invoice_id' = ANY($1)`, int64(len(ids))},
		{"distinct charge keys", `SELECT count(DISTINCT idempotency_key) FROM sim_charges WHERE metadata->>'invoice_id' = ANY($1)`, int64(len(ids))},
		{"negative wallets", `SELECT count(*) FROM wallets WHERE balance < 0 AND $1::text[] IS NOT NULL`, 0},
	}
	for _, c := range checks {
		n, err := e.scalar(ctx, c.query, ids)
		if err != nil {
			return fmt.Errorf("check %s: %w", c.what, err)
		}
		if n != c.want {
			return fmt.Errorf("check failed: %s: %d, want %d", c.what, n, c.want)
		}
	}
	return nil
}
