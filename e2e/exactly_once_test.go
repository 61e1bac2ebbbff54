package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"payorch/ledger/ledgertest"
)

// faultMode is what the network between the client and the API does to one request.
type faultMode int32

const (
	faultNone faultMode = iota
	// faultLostAnswer: the API runs the request to the end, but its answer is lost and the
	// client sees a 502 (a proxy that dropped the upstream connection).
	faultLostAnswer
	// faultRefused: a 503 before the API sees the request.
	faultRefused
)

// faultInjector wraps the API's handler: each request suffers the mode set for it.
type faultInjector struct {
	next http.Handler
	mode atomic.Int32
}

func (f *faultInjector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch faultMode(f.mode.Load()) {
	case faultRefused:
		http.Error(w, `{"error":{"type":"api_error","code":"proxy","message":"upstream refused"}}`, http.StatusServiceUnavailable)
	case faultLostAnswer:
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		http.Error(w, `{"error":{"type":"api_error","code":"proxy","message":"upstream answer lost"}}`, http.StatusBadGateway)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// cutoffClient sends requests through the fault injector, each time with a random fault:
// a client that hangs up after 1 to 40 ms, an answer lost after the work was done, a
// refusal before it started, or none.
type cutoffClient struct {
	t      *testing.T
	s      *stack
	faults *faultInjector
	rng    *rand.Rand
	// counts of what was done to requests
	hangups, lost, refused, requests int
	// afterFirst, when set, runs once after the first try of the next request (the
	// worker comes back after a request that found it dead).
	afterFirst func()
}

// send sends one request once, with a random fault; status 0 means the client hung up.
func (c *cutoffClient) send(method, path, key string, body any) (int, []byte) {
	c.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.requests++
	mode, timeout := faultNone, 30*time.Second
	switch p := c.rng.IntN(100); {
	case p < 25:
		timeout = time.Duration(1+c.rng.IntN(40)) * time.Millisecond
		c.hangups++
	case p < 40:
		mode = faultLostAnswer
		c.lost++
	case p < 50:
		mode = faultRefused
		c.refused++
	}
	c.faults.mode.Store(int32(mode))
	defer c.faults.mode.Store(int32(faultNone))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, c.s.api.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+backendKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil // hung up
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, out
}

// final sends the same request (same key, same body) until it has a final answer: not a
// hang-up, not a 5xx, not 202 (work in flight) or 409 idempotency_key_in_use. With
// stopAt202, a 202 is accepted as the end (the client gives up and leaves it to payorch).
func (c *cutoffClient) final(method, path, key string, body any, stopAt202 bool) (int, map[string]any) {
	c.t.Helper()
	for range 200 {
		status, raw := c.send(method, path, key, body)
		if c.afterFirst != nil {
			c.afterFirst()
			c.afterFirst = nil
		}
		switch {
		case status == 0, status >= 500:
		case status == http.StatusAccepted && !stopAt202:
		case status == http.StatusConflict && bytes.Contains(raw, []byte("idempotency_key_in_use")):
		default:
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				c.t.Fatalf("%s %s: %d %s", method, path, status, raw)
			}
			return status, m
		}
		time.Sleep(time.Duration(c.rng.IntN(30)) * time.Millisecond)
	}
	c.t.Fatalf("%s %s (key %s): no final answer after 200 tries", method, path, key)
	return 0, nil
}

// TestRequestsCutOffAtRandomPoints cuts POST /v1/invoices, reconcile, retry, void, wallet
// load and payment-method creation off at random points — a client that hangs up, an
// answer lost after the work was done, a request refused before it ran, the worker killed
// — and sends each again with the same key until it has a final answer. At the end, from
// the database and the simulated provider: one invoice per create, one charge per attempt,
// one reconciliation per reference, one load and one payment method per request, every
// invoice collected (paid, voided, or waiting after its declines), every wallet balanced.
// CUTOFF_ITERATIONS sets how many operations are cut (200 by default); CUTOFF_SEED
// replays a run's faults.
func TestRequestsCutOffAtRandomPoints(t *testing.T) {
	iterations := 200
	if v := os.Getenv("CUTOFF_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CUTOFF_ITERATIONS=%q", v)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CUTOFF_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CUTOFF_SEED=%q", v)
		}
		seed = n
	}
	t.Logf("seed %d (CUTOFF_SEED=%d replays the same faults)", seed, seed)
	faults := &faultInjector{}
	s := newStackWith(t, stackOptions{schedule: "1h,1h,1h", updateWait: 2 * time.Second,
		wrap: func(h http.Handler) http.Handler { faults.next = h; return faults }})
	s.startWorker()
	c := &cutoffClient{t: t, s: s, faults: faults, rng: rand.New(rand.NewPCG(seed, 7))}

	// Customers: paying ones with a card and a wallet holding 10.00 (the wallet pays part
	// of each invoice), and declining ones whose invoices wait for retries or a void.
	var payers, decliners []string
	wallets := map[string]string{}
	for i := range 4 {
		id := s.newCustomer(fmt.Sprintf("Payer%d", i), "pm_card_visa")
		var w map[string]any
		if code := s.call("POST", "/v1/wallets", map[string]any{"customer_id": id, "settings": map[string]any{"auto_debit": true}}, &w); code != 201 {
			t.Fatalf("wallet: %d %v", code, w)
		}
		wallets[id] = w["id"].(string)
		if code := s.call("POST", "/v1/wallets/"+wallets[id]+"/load", map[string]any{"amount": "10.00", "type": "free"}, nil); code != 201 {
			t.Fatalf("free load: %d", code)
		}
		payers = append(payers, id)
	}
	// Customers who pay by bank transfer have no wallet: the transfer pays the whole invoice.
	var transferers []string
	for i := range 2 {
		transferers = append(transferers, s.newCustomer(fmt.Sprintf("Transferer%d", i), "pm_card_visa"))
	}
	for i := range 2 {
		decliners = append(decliners, s.newCustomer(fmt.Sprintf("Decliner%d", i), "pm_card_chargeDeclinedInsufficientFunds"))
	}
	initialMethods := s.scalar(`SELECT count(*) FROM payment_methods`)

	type invoiceCase struct {
		id, kind string // kind: card, bank, declined, voided
	}
	var (
		invoicesMade []invoiceCase
		references   = map[string]int{} // invoice id → references reconciled
		loads        int
		methods      int
		retryKeys    = map[string][]string{} // invoice id → keys of its manual retries
		kills        int
	)
	createInvoice := func(cust, kind, method string, key string) string {
		amount := fmt.Sprintf("%d.%02d", 5+c.rng.IntN(40), c.rng.IntN(100))
		body := map[string]any{"customer_id": cust, "lines": []map[string]any{{"description": "Plan", "amount": amount}}}
		if method != "" {
			body["payment_method"] = method
		}
		status, inv := c.final("POST", "/v1/invoices", key, body, kind == "card" && c.rng.IntN(10) == 0)
		if status != 201 && status != 202 {
			t.Fatalf("create invoice: %d %v", status, inv)
		}
		id := inv["id"].(string)
		invoicesMade = append(invoicesMade, invoiceCase{id: id, kind: kind})
		return id
	}
	// openDeclined are declined invoices that manual retries and voids can act on.
	var openDeclined []string

	for i := range iterations {
		key := fmt.Sprintf("k-%d", i)
		// Now and then the worker dies before a request and comes back after it.
		killed := c.rng.IntN(100) < 4
		if killed {
			s.killWorker()
			kills++
			c.afterFirst = func() { s.startWorker(); killed = false }
		}
		switch op := c.rng.IntN(6); {
		case op == 0 || op == 1:
			createInvoice(payers[c.rng.IntN(len(payers))], "card", "", key)
		case op == 2:
			id := createInvoice(transferers[c.rng.IntN(len(transferers))], "bank", "bank_transfer", key)
			var inv map[string]any
			s.call("GET", "/v1/invoices/"+id, nil, &inv)
			total := decimal.RequireFromString(inv["total"].(string))
			// Paid in one or two transfers, each reconciled through the cut-off client.
			parts := []decimal.Decimal{total}
			if c.rng.IntN(2) == 0 {
				half := total.Div(decimal.NewFromInt(2)).Round(2)
				parts = []decimal.Decimal{half, total.Sub(half)}
			}
			for j, part := range parts {
				body := map[string]any{"amount": part.StringFixed(2), "reference": fmt.Sprintf("TRX-%d-%d", i, j), "paid_at": time.Now().UTC().Format(time.RFC3339)}
				status, out := c.final("POST", "/v1/invoices/"+id+"/reconcile", fmt.Sprintf("%s-rec-%d", key, j), body, false)
				if status != 200 {
					t.Fatalf("reconcile %s: %d %v", id, status, out)
				}
				references[id]++
			}
		case op == 3:
			cust := payers[c.rng.IntN(len(payers))]
			status, out := c.final("POST", "/v1/wallets/"+wallets[cust]+"/load", key, map[string]any{"amount": "5.00", "type": "paid"}, false)
			if status != 201 {
				t.Fatalf("load: %d %v", status, out)
			}
			loads++
		case op == 4:
			cust := payers[c.rng.IntN(len(payers))]
			status, out := c.final("POST", "/v1/customers/"+cust+"/payment-methods", key, map[string]any{"type": "card", "provider_id": "pm_card_visa",
				"exp_month": 12, "exp_year": time.Now().Year() + 3, "default": false}, false)
			if status != 201 {
				t.Fatalf("payment method: %d %v", status, out)
			}
			methods++
		default:
			// A declined invoice, then a manual retry or a void of an earlier one.
			if len(openDeclined) == 0 || c.rng.IntN(3) == 0 {
				openDeclined = append(openDeclined, createInvoice(decliners[c.rng.IntN(len(decliners))], "declined", "", key))
				break
			}
			j := c.rng.IntN(len(openDeclined))
			id := openDeclined[j]
			if c.rng.IntN(3) == 0 {
				status, out := c.final("POST", "/v1/invoices/"+id+"/void", key, map[string]any{}, false)
				if status != 200 {
					t.Fatalf("void %s: %d %v", id, status, out)
				}
				openDeclined = append(openDeclined[:j], openDeclined[j+1:]...)
				for k := range invoicesMade {
					if invoicesMade[k].id == id {
						invoicesMade[k].kind = "voided"
					}
				}
				break
			}
			status, out := c.final("POST", "/v1/invoices/"+id+"/retry", key, map[string]any{}, false)
			switch {
			case status == 200:
				retryKeys[id] = append(retryKeys[id], key)
			case status == 409 && out["error"].(map[string]any)["code"] == "charge_in_flight":
				// an attempt still in flight: refused, nothing charged
			default:
				t.Fatalf("retry %s: %d %v", id, status, out)
			}
		}
		c.afterFirst = nil
		if killed {
			s.startWorker()
		}
	}
	t.Logf("%d operations, %d requests: %d hang-ups, %d lost answers, %d refused; %d worker kills",
		iterations, c.requests, c.hangups, c.lost, c.refused, kills)

	// Everything settles: card and bank invoices paid, voided ones voided, declined ones
	// waiting with every attempt decided.
	s.until("every invoice collected or waiting", 3*time.Minute, func() bool {
		for _, inv := range invoicesMade {
			var status string
			var pending int
			if err := s.pool.QueryRow(context.Background(), `SELECT status, (SELECT count(*) FROM invoice_transactions t WHERE t.invoice_id = i.id AND t.status = 'pending')
				FROM invoices i WHERE id = $1`, inv.id).Scan(&status, &pending); err != nil {
				t.Fatal(err)
			}
			switch inv.kind {
			case "card", "bank":
				if status != "paid" {
					return false
				}
			case "voided":
				if status != "voided" {
					return false
				}
			case "declined":
				if pending > 0 || s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1`, inv.id) == 0 {
					return false
				}
			}
		}
		return true
	})

	// One invoice per create.
	if got := s.scalar(`SELECT count(*) FROM invoices WHERE kind = 'standard'`); got != len(invoicesMade) {
		t.Errorf("%d invoices for %d creates", got, len(invoicesMade))
	}
	// One charge per attempt: every card transaction is one provider charge under its own
	// key, and a paid card invoice was charged once.
	if got, want := s.scalar(`SELECT count(*) FROM sim_charges WHERE metadata ? 'invoice_id' AND NOT metadata ? 'load_id'`),
		s.scalar(`SELECT count(*) FROM invoice_transactions t JOIN invoices i ON i.id = t.invoice_id
			WHERE i.kind = 'standard' AND t.method = 'card' AND t.provider_reference IS NOT NULL`); got != want {
		t.Errorf("%d provider charges for %d card transactions", got, want)
	}
	for _, inv := range invoicesMade {
		cardTxns := s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'card'`, inv.id)
		switch inv.kind {
		case "card":
			if cardTxns > 1 {
				t.Errorf("invoice %s: %d card transactions, want at most 1", inv.id, cardTxns)
			}
		case "bank":
			if got := s.scalar(`SELECT count(*) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'bank_transfer'`, inv.id); got != references[inv.id] {
				t.Errorf("invoice %s: %d reconciliations for %d references", inv.id, got, references[inv.id])
			}
			if got := s.scalar(`SELECT count(DISTINCT reference) FROM invoice_transactions WHERE invoice_id = $1 AND method = 'bank_transfer'`, inv.id); got != references[inv.id] {
				t.Errorf("invoice %s: %d distinct references, want %d", inv.id, got, references[inv.id])
			}
		case "declined":
			// The first attempt, plus one per manual retry that was admitted: a retried
			// request never made a second attempt.
			if want := 1 + len(retryKeys[inv.id]); cardTxns != want {
				t.Errorf("invoice %s: %d card transactions, want %d (1 + %d manual retries)", inv.id, cardTxns, want, len(retryKeys[inv.id]))
			}
		}
	}
	// One load and one payment method per request; every paid load settled once.
	if got := s.scalar(`SELECT count(*) FROM wallet_loads WHERE type = 'paid'`); got != loads {
		t.Errorf("%d paid loads for %d requests", got, loads)
	}
	if got := s.scalar(`SELECT count(*) FROM wallet_loads WHERE type = 'paid' AND status <> 'settled'`); got != 0 {
		t.Errorf("%d paid loads not settled", got)
	}
	if got := s.scalar(`SELECT count(*) FROM sim_charges WHERE metadata ? 'load_id'`); got != loads {
		t.Errorf("%d load charges for %d loads", got, loads)
	}
	if got := s.scalar(`SELECT count(*) FROM payment_methods`); got != initialMethods+methods {
		t.Errorf("%d payment methods, want %d + %d", got, initialMethods, methods)
	}
	// No wallet negative, every wallet the sum of its ledger.
	ledgertest.AssertBalanced(t, s.pool)
	if t.Failed() {
		t.Logf("invoices: %s", s.dump(`SELECT id, status, payment_method, total, amount_paid, attempt_count FROM invoices ORDER BY seq`))
		t.Logf("transactions: %s", s.dump(`SELECT invoice_id, attempt, method, status, amount, coalesce(reference, ''), coalesce(idempotency_key, '') FROM invoice_transactions ORDER BY seq`))
	}
}
