// Command apiserver runs payorch's HTTP API (see api/).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"payorch/api"
	"payorch/internal/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Boot(ctx, app.Options{Migrate: true, Temporal: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(a.Config.APIKeys) == 0 {
		return errors.New("PAYORCH_API_KEYS: no API key configured (e.g. backend:<key>,support:<key>)")
	}
	deps := a.APIDeps()
	srv := &http.Server{
		Addr:              a.Config.HTTPAddr,
		Handler:           api.New(deps).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	a.Log.Info("api listening", "addr", "http://"+a.Config.HTTPAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("api shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
