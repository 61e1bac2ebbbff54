// Package app wires a payorch process from its configuration: logger, PostgreSQL pool
// (migrations applied), and Temporal client. The mains in worker/, apiserver/ and starter/
// stay tiny by calling it.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"payorch/codec"
	"payorch/config"
	"payorch/metrics"
	"payorch/migrations"
	"payorch/store"
)

// App is a wired process.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Pool     *pgxpool.Pool
	Temporal client.Client
	// Codec encrypts workflow payloads (PAYORCH_PAYLOAD_KEYS); nil when they are plain.
	Codec *codec.Codec
	// closers run on Close, after the Temporal client (the SDK metrics' reporter).
	closers []io.Closer
}

// Options choose what Boot connects.
type Options struct {
	// Migrate applies the migrations before returning.
	Migrate bool
	// Temporal dials the Temporal frontend.
	Temporal bool
	// TemporalMetrics records the Temporal SDK's own metrics on the default Prometheus
	// registry (metrics.TemporalHandler); one process (the worker) sets it.
	TemporalMetrics bool
}

// Boot loads the configuration and connects what opts asks for. It waits up to a minute
// for PostgreSQL and Temporal to answer, so processes can start in any order.
func Boot(ctx context.Context, opts Options) (*App, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: cfg.NewLogger()}
	slog.SetDefault(a.Log)
	if opts.Migrate {
		v, err := retry(ctx, a.Log, "postgres", func() (int32, error) { return migrations.Apply(ctx, cfg.DatabaseURL) })
		if err != nil {
			return nil, err
		}
		a.Log.Info("database migrated", "version", v)
	}
	a.Pool, err = store.OpenWith(ctx, cfg.DatabaseURL, store.PoolOptions{
		MaxConns: cfg.DatabaseMaxConns, LockTimeout: cfg.DatabaseLockTimeout, StatementTimeout: cfg.DatabaseStatementTimeout})
	if err != nil {
		return nil, err
	}
	if opts.Temporal {
		var mh client.MetricsHandler
		if opts.TemporalMetrics {
			h, closer := metrics.TemporalHandler(a.Log)
			mh = h
			a.closers = append(a.closers, closer)
		}
		topts, cod, err := TemporalOptions(cfg, a.Log)
		if err != nil {
			a.Close()
			return nil, err
		}
		topts.MetricsHandler = mh
		a.Codec = cod
		c, err := retry(ctx, a.Log, "temporal", func() (client.Client, error) {
			return client.DialContext(ctx, topts)
		})
		if err != nil {
			a.Close()
			return nil, err
		}
		a.Temporal = c
	}
	return a, nil
}

// Close releases the connections.
func (a *App) Close() {
	if a.Temporal != nil {
		a.Temporal.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	for _, c := range a.closers {
		_ = c.Close()
	}
}

func retry[T any](ctx context.Context, log *slog.Logger, what string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return v, fmt.Errorf("%s unreachable: %w", what, err)
		}
		log.Warn("waiting for "+what, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}
