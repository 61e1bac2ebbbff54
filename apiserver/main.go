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

// serverTimeouts bound how long one connection may hold the server.
type serverTimeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included: a body trickled byte by byte
	// is cut off (the handler's read fails, the request is refused) instead of holding a
	// connection and a goroutine for ever.
	Read time.Duration
	// Write bounds the time from the end of the request headers to the end of the
	// response, so it must exceed the longest wait of a handler.
	Write time.Duration
	// Idle bounds a kept-alive connection between requests.
	Idle time.Duration
}

// defaultTimeouts are the API server's timeouts.
//
//   - ReadHeader 10 s and Read 30 s: a 1 MiB body (the limit) needs only a slow line to
//     arrive in 30 s; a body trickled at 1 byte every 5 s is cut off after 30 s.
//   - Write 150 s: the longest wait of a request is an invoice retry, reconcile or void,
//     which waits collection.DefaultUpdateWait (60 s) for its Temporal Update, then
//     answers 202, plus the database reads around it;
//     a wallet load waits 5 s. Write must exceed those so a slow answer is still written.
//   - Idle 120 s for keep-alive connections.
var defaultTimeouts = serverTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 150 * time.Second, Idle: 120 * time.Second}

// newHTTPServer returns the API's HTTP server on addr with the timeouts t.
func newHTTPServer(addr string, h http.Handler, t serverTimeouts) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
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
	srv := newHTTPServer(a.Config.HTTPAddr, api.New(deps).Handler(), defaultTimeouts)
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
