// Command worker hosts payorch's workflows and activities on the task queue.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/worker"

	"payorch/codec"
	"payorch/internal/app"
	"payorch/mail"
	"payorch/metrics"
	"payorch/payments"
	"payorch/webhooks"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Boot(ctx, app.Options{Migrate: true, Temporal: true, TemporalMetrics: true})
	if err != nil {
		return err
	}
	defer a.Close()
	// The sticky cache is process-wide and is sized before the first worker starts.
	worker.SetStickyWorkflowCacheSize(a.Config.Worker.WorkflowCache)
	w := worker.New(a.Temporal, a.Config.TaskQueue, worker.Options{})
	provider, err := a.Provider()
	if err != nil {
		return err
	}
	a.Log.Info("payment provider", "provider", provider.Name())
	register(w, a, provider)
	// Events out: the webhook dispatcher and the mailer poll the outbox until shutdown,
	// and stop before the pool closes.
	mailer, err := mail.FromConfig(a.Pool, a.Log, a.Config)
	if err != nil {
		return err
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	var senders sync.WaitGroup
	defer func() { stopSending(); senders.Wait() }()
	dispatcher := webhooks.NewDispatcher(a.Pool, a.Log)
	dispatcher.HTTP = webhooks.NewHTTPClient(webhooks.DefaultTimeout, a.Config.WebhookAllowPrivateNetworks)
	senders.Go(func() { dispatcher.Run(sendCtx, a.Config.OutboxPollInterval) })
	senders.Go(func() { mailer.Run(sendCtx, a.Config.OutboxPollInterval) })
	// The simulated provider's SEPA outcomes go to the same handler as Stripe webhooks.
	if sim, ok := provider.(*payments.Simulated); ok {
		senders.Go(func() { sim.RunEventLoop(sendCtx, a.ProviderEvents(), payments.DefaultSimEventPollInterval) })
	}
	// The sweeper starts collections and re-sends signals that a lost request left undone.
	senders.Go(func() { a.Sweeper().Run(sendCtx, a.Config.Worker.SweepInterval) })
	if addr := a.Config.Worker.MetricsAddr; addr != "" {
		bound, stopMetrics, err := serveHTTP(addr, metrics.Handler(), a.Log, "worker metrics")
		if err != nil {
			return fmt.Errorf("PAYORCH_WORKER_METRICS_ADDR: %w", err)
		}
		defer stopMetrics()
		a.Log.Info("worker metrics", "url", "http://"+bound+"/metrics")
	}
	// The codec server decodes encrypted payloads for the Web UI and the Temporal CLI.
	if sc := codec.ServerConfigFromEnv(); sc.Addr != "" {
		if a.Codec == nil {
			return errors.New("PAYORCH_CODEC_ADDR is set but PAYORCH_PAYLOAD_KEYS is not: there is nothing to decode")
		}
		bound, stopCodec, err := serveHTTP(sc.Addr, a.Codec.Handler(sc.Token, sc.Origins), a.Log, "codec server")
		if err != nil {
			return fmt.Errorf("PAYORCH_CODEC_ADDR: %w", err)
		}
		defer stopCodec()
		a.Log.Info("payload codec server", "url", "http://"+bound, "auth", sc.Token != "")
	}
	a.Log.Info("worker polling", "task_queue", a.Config.TaskQueue, "namespace", a.Config.TemporalNamespace)
	return w.Run(stopOn(ctx))
}

// serveHTTP serves h on addr until the returned stop is called, and returns the address
// it bound (addr with port 0 gets a free port). A port that cannot be bound is an error:
// a configured endpoint that is not served is a misconfiguration, not a warning.
func serveHTTP(addr string, h http.Handler, log *slog.Logger, what string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" stopped", "addr", addr, "error", err)
		}
	}()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// stopOn turns a context into the interrupt channel worker.Run expects.
func stopOn(ctx context.Context) <-chan interface{} {
	ch := make(chan interface{})
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}
