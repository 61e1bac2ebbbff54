package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printTable prints the run as one table: each phase's ratio, the two sides, and notes.
func printTable(out io.Writer, r map[string]any) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nphase\tratio\tpayorch\tyardstick\tnotes")
	get := func(p string) result {
		if v, ok := r[p].(result); ok {
			return v
		}
		return nil
	}
	if p := get("P1"); p != nil {
		inv, bare := p["invoice_workflow"].(map[string]any), p["bare_workflow"].(map[string]any)
		fmt.Fprintf(tw, "P1 paid end to end\t%v\t%v invoices/s\t%v bare wf/s\tN=%v C=%v; transitions %v vs %v; activities %v+%v local vs %v\n",
			p["ratio"], p["invoices_per_s"], p["bare_per_s"], p["n"], p["concurrency"],
			inv["state_transitions_mean"], bare["state_transitions_mean"], inv["activities"], inv["local_activities"], bare["activities"])
	}
	if p := get("P2"); p != nil {
		fmt.Fprintf(tw, "P2 hot-wallet debit\t%v\t%v debits/s\t%v UPDATEs/s\tN=%v C=%v; p50 %v ms vs %v ms; one at a time %v/s vs %v/s (%v)\n",
			p["ratio"], p["ledger_debits_per_s"], p["raw_updates_per_s"], p["n"], p["concurrency"], p["ledger_p50_ms"], p["raw_p50_ms"],
			p["serial_ledger_per_s"], p["serial_raw_per_s"], p["serial_ratio"])
	}
	if p := get("P3"); p != nil {
		fmt.Fprintf(tw, "P3 POST /v1/invoices\t%v\t%v req/s\t%v starts/s\tN=%v C=%v; API p50 %v ms p99 %v ms (×%v); bare p50 %v ms p99 %v ms\n",
			p["ratio"], p["api_per_s"], p["bare_starts_per_s"], p["n"], p["concurrency"], p["api_p50_ms"], p["api_p99_ms"], p["api_p99_over_p50"], p["bare_p50_ms"], p["bare_p99_ms"])
	}
	if p := get("P4"); p != nil {
		fmt.Fprintf(tw, "P4 parked in retry\t%v/MiB\t%v parked in %v s\tworker RSS %v MiB (peak %v)\tPostgreSQL +%v MiB; Temporal SQLite +%v MiB; resumed+paid in %v s\n",
			p["ratio"], p["parked"], p["park_seconds"], p["worker_rss_parked_mib"], p["worker_rss_peak_mib"],
			p["postgres_db_added_mib"], orNA(p["temporal_sqlite_added_mib"]), p["resume_seconds"])
	}
	if m, ok := r["machine"].(map[string]any); ok {
		fmt.Fprintf(tw, "machine\t\t%v cores\t%v\tload %v → %v; %v s; %v\n", m["cores"], m["temporal"], m["load_avg_start"], m["load_avg_end"], m["seconds"], m["date"])
	}
	_ = tw.Flush()
}

func orNA(v any) any {
	if v == nil {
		return "n/a"
	}
	return v
}
