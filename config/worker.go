package config

import (
	"fmt"
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
}

// Worker defaults.
const (
	DefaultSweepInterval     = "30s"
	DefaultSweepGrace        = "30s"
	DefaultWorkerMetricsAddr = "127.0.0.1:9090"
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
	// Set but empty turns the endpoint off.
	if v, ok := lookup("PAYORCH_WORKER_METRICS_ADDR"); ok {
		c.Worker.MetricsAddr = v
	} else {
		c.Worker.MetricsAddr = DefaultWorkerMetricsAddr
	}
	return nil
}
