// Command chaos is `make chaos`: it starts its own PostgreSQL and Temporal dev server (the
// way internal/testenv does), runs the payorch API and worker as subprocesses built from
// this tree, and collects CHAOS_INVOICES invoices (1,000 by default) for 50 customers with
// wallets under faults:
//
//   - a mix of simulated payment methods: cards that settle, decline, fail twice then settle,
//     meet a provider outage; SEPA direct debits that settle or fail later; bank transfers
//     that the program reconciles (in one or two parts) and bank transfers left waiting;
//   - a short retry schedule (CHAOS_SCHEDULE, 2s,3s,4s), SEPA outcomes after 2 s;
//   - clients that hang up (a quarter of first tries, after 1-40 ms) and send the request
//     again with the same Idempotency-Key until they get a final answer;
//   - while they run, the worker is killed with SIGKILL every few seconds
//     (CHAOS_KILL_EVERY, 4s) and started again, the API is restarted (CHAOS_API_EVERY,
//     20s; SIGKILL and SIGTERM in turn), and PostgreSQL is restarted once (immediate
//     shutdown, crash recovery, same data directory) when half the invoices exist.
//
// Then, from the database, the simulated provider, Temporal and a loopback webhook
// receiver, it checks (check.go): every invoice paid, errored or waiting exactly as its
// method dictates; no provider idempotency key charged twice and every charge recorded;
// no wallet negative and every wallet the sum of its ledger; transactions per invoice =
// attempts made; every event delivered to the webhook endpoint, once per event id (a
// redelivery counts only when a crash explains it). It prints kills survived, restarts,
// invoices, charges and violations, and exits 1 when there is any violation.
//
// Knobs (environment): CHAOS_INVOICES, CHAOS_CUSTOMERS (50), CHAOS_C (client concurrency,
// 8), CHAOS_KILL_EVERY, CHAOS_API_EVERY, CHAOS_SCHEDULE, CHAOS_SEED (replays the same
// choices), CHAOS_TAIL (30s: how long the faults go on once every invoice exists),
// CHAOS_SETTLE_TIMEOUT (10m: the bounded wait for every outcome afterwards).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k, err := loadKnobs(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	r, err := run(ctx, k, os.Stderr, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	r.print(os.Stdout)
	if len(r.Violations) > 0 {
		os.Exit(1)
	}
}

// knobs are one run's sizes and fault rates.
type knobs struct {
	Invoices, Customers, Concurrency int
	KillEvery, APIEvery              time.Duration
	Schedule                         string
	SEPADelay                        time.Duration
	Seed                             uint64
	SettleTimeout                    time.Duration
	// Tail is how long the faults go on once every invoice exists.
	Tail time.Duration
}

func loadKnobs(getenv func(string) string) (knobs, error) {
	k := knobs{Invoices: 1000, Customers: 50, Concurrency: 8, KillEvery: 4 * time.Second, APIEvery: 20 * time.Second,
		Schedule: "2s,3s,4s", SEPADelay: 2 * time.Second, Seed: uint64(time.Now().UnixNano()), SettleTimeout: 10 * time.Minute, Tail: 30 * time.Second}
	ints := []struct {
		name string
		dst  *int
	}{{"CHAOS_INVOICES", &k.Invoices}, {"CHAOS_CUSTOMERS", &k.Customers}, {"CHAOS_C", &k.Concurrency}}
	for _, v := range ints {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1_000_000 {
				return k, fmt.Errorf("%s=%q: want a whole number from 1 to 1000000", v.name, s)
			}
			*v.dst = n
		}
	}
	durs := []struct {
		name string
		dst  *time.Duration
	}{{"CHAOS_KILL_EVERY", &k.KillEvery}, {"CHAOS_API_EVERY", &k.APIEvery}, {"CHAOS_SETTLE_TIMEOUT", &k.SettleTimeout}, {"CHAOS_TAIL", &k.Tail}}
	for _, v := range durs {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 100*time.Millisecond || d > 24*time.Hour {
				return k, fmt.Errorf("%s=%q: want a duration from 100ms to 24h", v.name, s)
			}
			*v.dst = d
		}
	}
	if s := strings.TrimSpace(getenv("CHAOS_SCHEDULE")); s != "" {
		k.Schedule = s
	}
	if s := strings.TrimSpace(getenv("CHAOS_SEED")); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return k, fmt.Errorf("CHAOS_SEED=%q: want a whole number", s)
		}
		k.Seed = n
	}
	if k.Customers < len(classes) {
		return k, fmt.Errorf("CHAOS_CUSTOMERS=%d: at least %d (one per payment behaviour)", k.Customers, len(classes))
	}
	return k, nil
}

// report is what a run prints.
type report struct {
	Started                        time.Time
	Seconds                        float64
	Seed                           uint64
	Invoices, Customers            int
	ByClass                        map[string]int
	WorkerKills, APIRestarts       int
	PostgresRestarts               int
	Charges, FailedCharges         int
	Requests, Hangups, Retries     int64
	Webhooks, Redeliveries, Events int
	Violations                     []string
	// LoadStart and LoadEnd are /proc/loadavg's first three fields (the machine is shared).
	LoadStart, LoadEnd string
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "chaos run %s (%.0f s, seed %d; load average %s at the start, %s at the end)\n",
		r.Started.Format(time.RFC3339), r.Seconds, r.Seed, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "  invoices            %d for %d customers %v\n", r.Invoices, r.Customers, r.ByClass)
	fmt.Fprintf(w, "  worker kills (-9)   %d survived\n", r.WorkerKills)
	fmt.Fprintf(w, "  API restarts        %d\n", r.APIRestarts)
	fmt.Fprintf(w, "  PostgreSQL restarts %d\n", r.PostgresRestarts)
	fmt.Fprintf(w, "  requests            %d (%d hang-ups, %d retries with the same key)\n", r.Requests, r.Hangups, r.Retries)
	fmt.Fprintf(w, "  provider charges    %d (%d failed)\n", r.Charges, r.FailedCharges)
	fmt.Fprintf(w, "  webhooks            %d events, %d requests received (%d redeliveries after a crash)\n", r.Events, r.Webhooks, r.Redeliveries)
	fmt.Fprintf(w, "  violations          %d\n", len(r.Violations))
	for i, v := range r.Violations {
		if i == 50 {
			fmt.Fprintf(w, "    … and %d more\n", len(r.Violations)-50)
			break
		}
		fmt.Fprintf(w, "    - %s\n", v)
	}
}

// loadAvg returns /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
