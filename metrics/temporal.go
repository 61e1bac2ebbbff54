package metrics

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// TemporalHandler returns the Temporal SDK's metrics handler (go.temporal.io/sdk/contrib/
// tally with tally's Prometheus reporter), registered on the default Prometheus registry,
// so the worker's GET /metrics also serves the SDK's own metrics under their standard
// names (temporal_workflow_task_execution_failed, temporal_activity_execution_failed,
// temporal_request_failure, temporal_workflow_endtoend_latency, …). Close the returned
// closer on shutdown. Call it once per process: the names can be registered only once.
func TemporalHandler(log *slog.Logger) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       prometheus.DefaultRegisterer,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(err error) {
			if log != nil {
				log.Warn("temporal metric not registered", "error", err)
			}
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
