// Command worker hosts payorch's workflows and activities on the task queue.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/worker"

	"payorch/internal/app"
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
	a, err := app.Boot(ctx, app.Options{Migrate: true, Temporal: true})
	if err != nil {
		return err
	}
	defer a.Close()
	w := worker.New(a.Temporal, a.Config.TaskQueue, worker.Options{})
	register(w, a)
	a.Log.Info("worker polling", "task_queue", a.Config.TaskQueue, "namespace", a.Config.TemporalNamespace)
	return w.Run(stopOn(ctx))
}

// stopOn turns a context into the interrupt channel worker.Run expects.
func stopOn(ctx context.Context) <-chan interface{} {
	ch := make(chan interface{})
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}
