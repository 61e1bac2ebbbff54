package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/ids"
	"payorch/metrics/metricstest"
)

func helloWorkflow(ctx workflow.Context, name string) (string, error) { return "hello " + name, nil }

// TestTemporalSDKMetricsAreScraped: a client and worker built with TemporalHandler run a
// workflow; the SDK's own metrics (workflow completed, workflow task latency) then appear
// in the scrape of the default registry, which the worker's GET /metrics serves.
func TestTemporalSDKMetricsAreScraped(t *testing.T) {
	mh, closer := TemporalHandler(nil)
	defer closer.Close()
	c, err := client.Dial(client.Options{HostPort: env.TemporalAddress, MetricsHandler: mh})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "test_metrics_" + ids.New("q") // label values are sanitized: no "-"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(helloWorkflow)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	before := metricstest.Scrape(t, Handler())
	series := `activity_type="none",client_name="temporal_go",namespace="default",task_queue="` + queue + `",worker_type="none",workflow_type="helloWorkflow"`
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, helloWorkflow, "ops")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hello ops" {
		t.Fatalf("workflow: %q %v", out, err)
	}
	// tally reports every second: wait (bounded) for the scrape to show the completion.
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := metricstest.Scrape(t, Handler())
		got := metricstest.Value(text, "temporal_workflow_completed_total", series) - metricstest.Value(before, "temporal_workflow_completed_total", series)
		if got == 1 && strings.Contains(text, "temporal_workflow_task_execution_latency_seconds_bucket") {
			return
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, l := range strings.Split(text, "\n") {
				if strings.HasPrefix(l, "temporal_workflow_completed") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("temporal_workflow_completed_total{%s} moved by %v; completed series: %v", series, got, lines)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
