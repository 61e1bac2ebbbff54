package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// class is a customer's payment behaviour: its default payment method, the invoices'
// payment_method, its wallet funding, and what must become of its invoices.
type class struct {
	Name string
	// Weight is the class's share of the customers.
	Weight int
	// PMType and ProviderID are the customer's default payment method.
	PMType, ProviderID string
	// InvoiceMethod is the invoices' payment_method ("" = the default method's).
	InvoiceMethod string
	// Funding is the free load of the wallets of even-numbered customers of the class
	// ("" = none).
	Funding string
	// Outcome is what every invoice of the class ends as: paid, error or waiting.
	Outcome string
	// Reconcile: the program pays the invoices by bank transfer (one or two references).
	Reconcile bool
}

// Outcomes.
const (
	outcomePaid    = "paid"
	outcomeError   = "error"
	outcomeWaiting = "waiting"
)

// failThenSettle is how many charges of a fail-then-settle customer fail.
const failThenSettle = 2

var classes = []class{
	{Name: "settle", Weight: 14, PMType: "card", ProviderID: "pm_card_visa", Funding: "100.00", Outcome: outcomePaid},
	{Name: "decline", Weight: 5, PMType: "card", ProviderID: "pm_card_chargeDeclinedInsufficientFunds", Funding: "5.00", Outcome: outcomeError},
	{Name: "fail_then_settle", Weight: 6, PMType: "card", ProviderID: fmt.Sprintf("pm_sim_fail%d_then_settle", failThenSettle), Funding: "40.00", Outcome: outcomePaid},
	{Name: "outage", Weight: 6, PMType: "card", ProviderID: "pm_sim_outage3_then_settle", Funding: "40.00", Outcome: outcomePaid},
	{Name: "sepa_settle", Weight: 6, PMType: "direct_debit", ProviderID: "pm_sim_sepa_settle", InvoiceMethod: "direct_debit", Outcome: outcomePaid},
	{Name: "sepa_fail", Weight: 4, PMType: "direct_debit", ProviderID: "pm_sim_sepa_fail", InvoiceMethod: "direct_debit", Outcome: outcomeError},
	{Name: "transfer", Weight: 6, PMType: "card", ProviderID: "pm_card_visa", InvoiceMethod: "bank_transfer", Outcome: outcomePaid, Reconcile: true},
	{Name: "transfer_waiting", Weight: 3, PMType: "card", ProviderID: "pm_card_visa", InvoiceMethod: "bank_transfer", Outcome: outcomeWaiting},
}

// customer is one customer of the run.
type customer struct {
	ID, WalletID string
	Class        class
	Funded       decimal.Decimal
}

// invoiceCase is one invoice of the run, as the client knows it.
type invoiceCase struct {
	N        int
	ID       string
	Customer *customer
	// References are the bank references reconciled.
	References []string
}

// runState is what the load and the faults share.
type runState struct {
	k        knobs
	s        *stack
	c        *merchant
	rc       *receiver
	log      io.Writer
	customer []*customer

	mu       sync.Mutex
	invoices []*invoiceCase
	failures []string
	// crashes are the instants a worker was killed or PostgreSQL restarted: a webhook sent
	// just before one may be sent again (at least once), and that is not a violation.
	crashes []time.Time

	created                  atomic.Int64
	workerKills, apiRestarts atomic.Int64
	pgRestarts               atomic.Int64
	endpointID               string
}

func (st *runState) fail(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failures = append(st.failures, fmt.Sprintf(format, args...))
}

func (st *runState) crashAt(t time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.crashes = append(st.crashes, t)
}

// run is one chaos run; progress goes to log. inspect, when not nil, runs after the
// checks while everything is still up (the test uses it to prove the checks bite).
func run(ctx context.Context, k knobs, log io.Writer, inspect func(context.Context, *runState, *report) error) (*report, error) {
	started, load0 := time.Now().UTC(), loadAvg()
	fmt.Fprintf(log, "==> chaos: %d invoices, %d customers, seed %d; starting PostgreSQL, Temporal, API and worker\n", k.Invoices, k.Customers, k.Seed)
	s, err := startStack(ctx, k)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	rc, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer rc.close()
	if err := s.startAPI(ctx); err != nil {
		return nil, err
	}
	if err := s.startWorker(); err != nil {
		return nil, err
	}
	st := &runState{k: k, s: s, rc: rc, log: log, c: newClient("http://"+s.apiAddr, k.Seed)}

	if err := st.setup(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "==> %d customers ready; creating invoices under faults\n", len(st.customer))

	faultCtx, stopFaults := context.WithCancel(ctx)
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); st.faults(faultCtx) }()

	loadStart := time.Now()
	st.load(ctx)
	fmt.Fprintf(log, "==> %d invoices created in %.0f s; faults go on while they settle\n", st.created.Load(), time.Since(loadStart).Seconds())
	// The faults go on while the invoices settle (retries, SEPA outcomes, webhooks).
	select {
	case <-time.After(k.Tail):
	case <-ctx.Done():
	}
	stopFaults()
	<-faultsDone
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	fmt.Fprintf(log, "==> faults over (%d worker kills, %d API restarts, %d PostgreSQL restarts); waiting for every outcome\n",
		st.workerKills.Load(), st.apiRestarts.Load(), st.pgRestarts.Load())

	settled := st.waitSettled(ctx)
	r := &report{Started: started, Seed: k.Seed, Invoices: len(st.invoices), Customers: len(st.customer), ByClass: map[string]int{},
		WorkerKills: int(st.workerKills.Load()), APIRestarts: int(st.apiRestarts.Load()), PostgresRestarts: int(st.pgRestarts.Load()),
		Requests: st.c.requests.Load(), Hangups: st.c.hangups.Load(), Retries: st.c.retries.Load()}
	for _, inv := range st.invoices {
		r.ByClass[inv.Customer.Class.Name]++
	}
	if !settled {
		r.Violations = append(r.Violations, fmt.Sprintf("not every invoice reached its outcome (and every webhook its receiver) within CHAOS_SETTLE_TIMEOUT=%s", k.SettleTimeout))
	}
	if err := st.check(ctx, r); err != nil {
		return nil, err
	}
	r.Seconds, r.LoadStart, r.LoadEnd = time.Since(started).Seconds(), load0, loadAvg()
	if inspect != nil {
		if err := inspect(ctx, st, r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// setup registers the webhook endpoint and the customers (payment method, wallet, load).
func (st *runState) setup(ctx context.Context) error {
	status, ep, err := st.c.do(ctx, http.MethodPost, "/v1/webhook-endpoints", "ep-1", map[string]any{"url": st.rc.URL, "description": "chaos"}, false)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("webhook endpoint: %d %v %v", status, ep, err)
	}
	st.endpointID, _ = ep["id"].(string)
	secret, _ := ep["secret"].(string)
	st.rc.setSecret(secret)

	total := 0
	for _, cl := range classes {
		total += cl.Weight
	}
	// Customers per class in proportion to the weights, at least one each.
	var plan []class
	for i, cl := range classes {
		n := max(1, st.k.Customers*cl.Weight/total)
		if i == 0 {
			rest := st.k.Customers
			for _, o := range classes[1:] {
				rest -= max(1, st.k.Customers*o.Weight/total)
			}
			n = max(1, rest)
		}
		for range n {
			plan = append(plan, cl)
		}
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, st.k.Concurrency)
	var wg sync.WaitGroup
	st.customer = make([]*customer, len(plan))
	for i, cl := range plan {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cu, err := st.newCustomer(ctx, i, cl)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			st.customer[i] = cu
		}()
	}
	wg.Wait()
	return firstErr
}

func (st *runState) newCustomer(ctx context.Context, i int, cl class) (*customer, error) {
	c := st.c
	status, cu, err := c.do(ctx, http.MethodPost, "/v1/customers", fmt.Sprintf("cus-%d", i),
		map[string]any{"name": fmt.Sprintf("Chaos %s %d", cl.Name, i), "email": fmt.Sprintf("chaos%d@example.com", i), "currency": "EUR",
			"external_id": fmt.Sprintf("chaos-cus-%d", i)}, false)
	if err != nil || status != http.StatusCreated {
		return nil, fmt.Errorf("customer %d: %d %v %v", i, status, cu, err)
	}
	out := &customer{ID: cu["id"].(string), Class: cl}
	pm := map[string]any{"type": cl.PMType, "provider_id": cl.ProviderID, "default": true}
	if cl.PMType == "card" {
		pm["exp_month"], pm["exp_year"], pm["last4"] = 12, time.Now().Year()+3, "4242"
	}
	if status, body, err := c.do(ctx, http.MethodPost, "/v1/customers/"+out.ID+"/payment-methods", fmt.Sprintf("pm-%d", i), pm, false); err != nil || status != http.StatusCreated {
		return nil, fmt.Errorf("payment method of customer %d: %d %v %v", i, status, body, err)
	}
	status, w, err := c.do(ctx, http.MethodPost, "/v1/wallets", fmt.Sprintf("wal-%d", i),
		map[string]any{"customer_id": out.ID, "settings": map[string]any{"auto_debit": true}}, false)
	if err != nil || status != http.StatusCreated {
		return nil, fmt.Errorf("wallet of customer %d: %d %v %v", i, status, w, err)
	}
	out.WalletID = w["id"].(string)
	if cl.Funding != "" && i%2 == 0 {
		if status, body, err := c.do(ctx, http.MethodPost, "/v1/wallets/"+out.WalletID+"/load", fmt.Sprintf("load-%d", i),
			map[string]any{"amount": cl.Funding, "type": "free"}, false); err != nil || status != http.StatusCreated {
			return nil, fmt.Errorf("load of customer %d: %d %v %v", i, status, body, err)
		}
		out.Funded = decimal.RequireFromString(cl.Funding)
	}
	return out, nil
}

// load creates the invoices with CHAOS_C clients at once; the transfer invoices of
// reconciling customers are then paid by one or two bank references.
func (st *runState) load(ctx context.Context) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := range st.k.Concurrency {
		rng := rand.New(rand.NewPCG(st.k.Seed, uint64(100+w)))
		wg.Go(func() {
			for n := range jobs {
				st.invoice(ctx, rng, n)
			}
		})
	}
	for n := range st.k.Invoices {
		select {
		case jobs <- n:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
}

func (st *runState) invoice(ctx context.Context, rng *rand.Rand, n int) {
	cu := st.customer[n%len(st.customer)]
	amount := decimal.New(int64(1000+rng.IntN(5000)), -2) // 10.00 to 59.99
	body := map[string]any{"customer_id": cu.ID, "external_id": fmt.Sprintf("chaos-inv-%d", n),
		"lines": []map[string]any{{"description": fmt.Sprintf("Chaos %d", n), "amount": amount.StringFixed(2)}}}
	if cu.Class.InvoiceMethod != "" {
		body["payment_method"] = cu.Class.InvoiceMethod
	}
	status, out, err := st.c.do(ctx, http.MethodPost, "/v1/invoices", fmt.Sprintf("inv-%d", n), body, true)
	if err != nil || (status != http.StatusCreated && status != http.StatusAccepted) {
		st.fail("create invoice %d: %d %v %v", n, status, out, err)
		return
	}
	id, _ := out["id"].(string)
	if id == "" {
		st.fail("create invoice %d: %d without an id: %v", n, status, out)
		return
	}
	inv := &invoiceCase{N: n, ID: id, Customer: cu}
	st.mu.Lock()
	st.invoices = append(st.invoices, inv)
	st.mu.Unlock()
	st.created.Add(1)
	if !cu.Class.Reconcile {
		return
	}
	// The transfer arrives a little later, in one or two parts.
	time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
	parts := []decimal.Decimal{amount}
	if rng.IntN(2) == 0 {
		half := amount.Div(decimal.NewFromInt(2)).Round(2)
		parts = []decimal.Decimal{half, amount.Sub(half)}
	}
	for j, part := range parts {
		ref := fmt.Sprintf("CHAOS-TRX-%d-%d", n, j)
		rec := map[string]any{"amount": part.StringFixed(2), "reference": ref, "paid_at": time.Now().UTC().Format(time.RFC3339)}
		status, out, err := st.c.do(ctx, http.MethodPost, "/v1/invoices/"+id+"/reconcile", fmt.Sprintf("rec-%d-%d", n, j), rec, false)
		if err != nil || status != http.StatusOK {
			st.fail("reconcile invoice %d (%s) part %d: %d %v %v", n, id, j, status, out, err)
			return
		}
		st.mu.Lock()
		inv.References = append(inv.References, ref)
		st.mu.Unlock()
	}
}

// faults kills the worker every KillEvery (±50 %) and starts it again after 0.2-1.5 s,
// restarts the API every APIEvery (SIGKILL and SIGTERM in turn), and restarts PostgreSQL
// (immediate shutdown) once half the invoices exist. It returns with everything running.
func (st *runState) faults(ctx context.Context) {
	rng := rand.New(rand.NewPCG(st.k.Seed, 99))
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(rng.Int64N(int64(d))) }
	nextKill := time.Now().Add(jitter(st.k.KillEvery))
	nextAPI := time.Now().Add(jitter(st.k.APIEvery))
	pgDone := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		now := time.Now()
		if now.After(nextKill) {
			st.crashAt(time.Now())
			st.s.killWorker()
			st.workerKills.Add(1)
			time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
			if err := st.s.startWorker(); err != nil {
				st.fail("start the worker: %v", err)
			}
			nextKill = time.Now().Add(jitter(st.k.KillEvery))
		}
		if now.After(nextAPI) {
			hard := st.apiRestarts.Load()%2 == 0
			st.s.stopAPI(hard)
			// startAPI waits for /healthz, bounded; the run's context ends it early.
			if err := st.s.startAPI(context.WithoutCancel(ctx)); err != nil {
				st.fail("restart the API: %v", err)
			}
			st.apiRestarts.Add(1)
			nextAPI = time.Now().Add(jitter(st.k.APIEvery))
		}
		if !pgDone && st.created.Load() >= int64(st.k.Invoices/2) {
			pgDone = true
			st.crashAt(time.Now())
			t0 := time.Now()
			if err := st.s.pg.Restart(context.WithoutCancel(ctx), "immediate"); err != nil {
				st.fail("restart PostgreSQL: %v", err)
			}
			st.crashAt(time.Now())
			st.pgRestarts.Add(1)
			fmt.Fprintf(st.log, "    PostgreSQL restarted (immediate shutdown, crash recovery) in %.1f s\n", time.Since(t0).Seconds())
		}
	}
}
