// Command worker hosts payorch's workflows and activities on the task queue.
package main

import (
	"context"
	"errors"
	"fmt"
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
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler())
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.Log.Error("worker metrics endpoint not served", "addr", addr, "error", err)
			}
		}()
		defer srv.Close()
		a.Log.Info("worker metrics", "url", "http://"+addr+"/metrics")
	}
	// The codec server decodes encrypted payloads for the Web UI and the Temporal CLI.
	if sc := codec.ServerConfigFromEnv(); sc.Addr != "" {
		if a.Codec == nil {
			return errors.New("PAYORCH_CODEC_ADDR is set but PAYORCH_PAYLOAD_KEYS is not: there is nothing to decode")
		}
		srv := &http.Server{Addr: sc.Addr, Handler: a.Codec.Handler(sc.Token, sc.Origins), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.Log.Error("codec server not served", "addr", sc.Addr, "error", err)
			}
		}()
		defer srv.Close()
		a.Log.Info("payload codec server", "url", "http://"+sc.Addr, "auth", sc.Token != "")
	}
	a.Log.Info("worker polling", "task_queue", a.Config.TaskQueue, "namespace", a.Config.TemporalNamespace)
	return w.Run(stopOn(ctx))
}

// stopOn turns a context into the interrupt channel worker.Run expects.
func stopOn(ctx context.Context) <-chan interface{} {
	ch := make(chan interface{})
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}
