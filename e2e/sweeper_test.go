package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"payorch/ledger/ledgertest"
)

// TestSweeperCollectsInvoicesLeftWithoutWorkflow: invoices committed by an API process that
// died before it started their workflows (rows inserted directly here) are collected by the
// worker on its own: its sweeper starts them, says so in its log and counts it in the
// worker's /metrics. A worker killed and restarted meanwhile loses nothing.
func TestSweeperCollectsInvoicesLeftWithoutWorkflow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()
	s := newStack(t, "1h,1h,1h", "PAYORCH_WORKER_METRICS_ADDR="+metricsAddr)
	cust := s.newCustomer("Orphan", "pm_card_visa")
	orphans := func(n int) []string {
		var out []string
		for range n {
			id := ledgertest.Invoice(t, s.pool, cust, "12.00")
			if _, err := s.pool.Exec(context.Background(), `UPDATE invoices SET created_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	metric := `payorch_sweeper_actions_total{action="start_collection"}`
	for round, n := range []int{2, 3} {
		// Each round: orphans left while no worker runs, then a fresh worker process.
		ids := orphans(n)
		s.startWorker()
		s.until(fmt.Sprintf("round %d: every orphan paid", round), time.Minute, func() bool {
			return s.scalar(`SELECT count(*) FROM invoices WHERE id = ANY($1) AND status = 'paid'`, ids) == n
		})
		if got := scrapeCounter(t, "http://"+metricsAddr+"/metrics", metric); got != float64(n) {
			t.Fatalf("round %d: %s = %v, want %d", round, metric, got, n)
		}
		s.killWorker()
	}
	if got := s.scalar(`SELECT count(*) FROM sim_charges`); got != 5 {
		t.Fatalf("%d charges for 5 invoices", got)
	}
	if got := strings.Count(s.logs.String(), "sweeper: started the collection"); got != 5 {
		t.Fatalf("%d sweeper repairs in the worker's log, want 5", got)
	}
}

// scrapeCounter reads one sample from a Prometheus text endpoint (-1 when absent).
func scrapeCounter(t *testing.T, url, sample string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("sample %s: %v", sample, err)
	}
	return v
}
