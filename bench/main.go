// Command bench is `make bench`: it starts its own PostgreSQL and Temporal dev server (the
// way internal/testenv does), runs the payorch worker as a subprocess and the HTTP API in
// process, and measures four ratios side by side in the same run:
//
//	P1  invoices paid per second end to end (POST /v1/invoices → paid; wallet + simulated
//	    card) ÷ a bare workflow with 2 no-op activities, same server, same worker options
//	P2  wallet debits per second on one hot wallet through ledger.DebitForInvoice ÷ a raw
//	    single-statement UPDATE, same concurrency, same PostgreSQL
//	P3  POST /v1/invoices (create + start) per second ÷ bare client.ExecuteWorkflow starts
//	P4  N invoices parked in retry timers: time to park, worker RSS, Temporal and
//	    PostgreSQL size, then all resumed (a new card) and paid
//
// It prints a table and writes bench/results.json. Knobs (environment): BENCH_N and
// BENCH_C (P1 invoices and concurrency), BENCH_P2_N, BENCH_P2_C, BENCH_P3_N, BENCH_P3_C,
// BENCH_PARKED (P4), BENCH_ONLY (e.g. "P1,P3"), BENCH_TEMPORAL_ADDRESS (use a running
// Temporal server instead of starting a dev server: the production-shaped run),
// BENCH_RESULTS (output file), PAYORCH_TEST_VERBOSE (server logs). Every phase checks its
// own outcome (every invoice really paid, counts match) and the command fails if not.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(roleEnv) == roleBareWorker {
		if err := runBareWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "bench bare worker:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// knobs are the run's sizes, from the environment.
type knobs struct {
	N, C         int // P1
	P2N, P2C     int
	P3N, P3C     int
	Parked, P4C  int
	Only         map[string]bool
	TemporalAddr string
	Results      string
}

func envInt(name string, def int) int {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "bench: %s=%q is not a positive whole number; using %d\n", name, v, def)
		return def
	}
	return n
}

func loadKnobs() knobs {
	k := knobs{
		N: envInt("BENCH_N", 200), C: envInt("BENCH_C", 8),
		P2N: envInt("BENCH_P2_N", 2000), P2C: envInt("BENCH_P2_C", 8),
		P3N: envInt("BENCH_P3_N", 400), P3C: envInt("BENCH_P3_C", 8),
		Parked: envInt("BENCH_PARKED", 1000), P4C: envInt("BENCH_P4_C", 8),
		TemporalAddr: strings.TrimSpace(os.Getenv("BENCH_TEMPORAL_ADDRESS")),
		Results:      strings.TrimSpace(os.Getenv("BENCH_RESULTS")),
		Only:         map[string]bool{},
	}
	for _, p := range strings.Split(os.Getenv("BENCH_ONLY"), ",") {
		if p = strings.ToUpper(strings.TrimSpace(p)); p != "" {
			k.Only[p] = true
		}
	}
	return k
}

func (k knobs) want(phase string) bool { return len(k.Only) == 0 || k.Only[phase] }

// result is one phase's figures (the JSON object under "P1"…"P4").
type result map[string]any

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k := loadKnobs()
	started := time.Now().UTC()
	load0 := loadAvg()
	e, err := startEnv(ctx, k)
	if err != nil {
		return err
	}
	defer e.Stop()

	results := map[string]any{}
	type phase struct {
		name string
		run  func(context.Context, *benchEnv, knobs) (result, error)
	}
	for _, p := range []phase{{"P2", runP2}, {"P3", runP3}, {"P1", runP1}, {"P4", runP4}} {
		if !k.want(p.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "==> %s\n", p.name)
		t0 := time.Now()
		r, err := p.run(ctx, e, k)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		r["phase_seconds"] = round(time.Since(t0).Seconds(), 1)
		results[p.name] = r
		if b, err := json.Marshal(r); err == nil {
			fmt.Fprintf(os.Stderr, "    %s %s\n", p.name, b)
		}
	}
	results["machine"] = map[string]any{
		"date": started.Format(time.RFC3339), "cores": runtime.NumCPU(), "goos": runtime.GOOS,
		"load_avg_start": load0, "load_avg_end": loadAvg(), "temporal": e.TemporalKind,
		"seconds": round(time.Since(started).Seconds(), 1),
	}
	printTable(os.Stdout, results)
	out := k.Results
	if out == "" {
		out = e.Root + "/bench/results.json"
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", out)
	return nil
}

// loadAvg returns /proc/loadavg's first three fields (the machine is shared: say how busy).
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

func round(v float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// percentile returns the q-quantile (0..1) of ds in milliseconds.
func percentile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return round(float64(s[i])/float64(time.Millisecond), 2)
}
