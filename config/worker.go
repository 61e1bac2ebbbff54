package config

import (
	"fmt"
	"strconv"
	"time"
)

// WorkerConfig is what only the worker process reads.
type WorkerConfig struct {
	// SweepInterval is how often the worker's sweeper looks for invoices without a payment
	// workflow and for missed new-payment-method signals (PAYORCH_SWEEP_INTERVAL).
	SweepInterval time.Duration
	// SweepGrace is how old such an invoice or payment method must be before the sweeper
	// acts, so it does not race the API request still finishing it (PAYORCH_SWEEP_GRACE).
	SweepGrace time.Duration
	// MetricsAddr is where the worker serves GET /metrics (Prometheus); empty: not served
	// (PAYORCH_WORKER_METRICS_ADDR).
	MetricsAddr string
	// WorkflowCache is how many workflows the worker keeps in memory between their tasks
	// (the SDK's sticky cache; PAYORCH_WORKER_WORKFLOW_CACHE). It bounds the worker's
	// memory whatever the number of parked payments: one cached payment costs about 75 KB
	// (make bench, P4); one evicted is rebuilt from its history at its next task.
	WorkflowCache int
}

// Worker defaults.
const (
	DefaultSweepInterval     = "30s"
	DefaultSweepGrace        = "30s"
	DefaultWorkerMetricsAddr = "127.0.0.1:9090"
	// DefaultWorkflowCache is the SDK's own default sticky cache size.
	DefaultWorkflowCache = 10000
)

func (c *Config) loadWorker(get func(name, def string) string, lookup func(string) (string, bool)) error {
	var err error
	v := get("PAYORCH_SWEEP_INTERVAL", DefaultSweepInterval)
	if c.Worker.SweepInterval, err = time.ParseDuration(v); err != nil || c.Worker.SweepInterval < 100*time.Millisecond || c.Worker.SweepInterval > time.Hour {
		return fmt.Errorf("PAYORCH_SWEEP_INTERVAL: %q must be a duration from 100ms to 1h, like 30s", v)
	}
	v = get("PAYORCH_SWEEP_GRACE", DefaultSweepGrace)
	if c.Worker.SweepGrace, err = time.ParseDuration(v); err != nil || c.Worker.SweepGrace < 0 || c.Worker.SweepGrace > 24*time.Hour {
		return fmt.Errorf("PAYORCH_SWEEP_GRACE: %q must be a duration from 0s to 24h, like 30s", v)
	}
	v = get("PAYORCH_WORKER_WORKFLOW_CACHE", strconv.Itoa(DefaultWorkflowCache))
	if c.Worker.WorkflowCache, err = strconv.Atoi(v); err != nil || c.Worker.WorkflowCache < 1 || c.Worker.WorkflowCache > 1000000 {
		return fmt.Errorf("PAYORCH_WORKER_WORKFLOW_CACHE: %q must be a number of workflows from 1 to 1000000, like 10000", v)
	}
	// Set but empty turns the endpoint off.
	if v, ok := lookup("PAYORCH_WORKER_METRICS_ADDR"); ok {
		c.Worker.MetricsAddr = v
	} else {
		c.Worker.MetricsAddr = DefaultWorkerMetricsAddr
	}
	return nil
}
