package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const (
	roleEnv        = "BENCH_ROLE"
	roleBareWorker = "bare-worker"
	// bareWorkflowName is the bare workflow's type.
	bareWorkflowName = "BenchBare"
)

// BareWorkflow is the yardstick of P1: two no-op activities in a row, nothing else.
func BareWorkflow(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var a, b string
	if err := workflow.ExecuteActivity(ctx, NoopFirst, in).Get(ctx, &a); err != nil {
		return "", err
	}
	if err := workflow.ExecuteActivity(ctx, NoopSecond, a).Get(ctx, &b); err != nil {
		return "", err
	}
	return b, nil
}

// NoopFirst is the bare workflow's first activity: it returns its input.
func NoopFirst(_ context.Context, in string) (string, error) { return in, nil }

// NoopSecond is the bare workflow's second activity: it returns its input.
func NoopSecond(_ context.Context, in string) (string, error) { return in, nil }

// runBareWorker hosts the bare workflow on PAYORCH_TASK_QUEUE with the options the payorch
// worker uses (worker/main.go: worker.Options{}), until SIGTERM.
func runBareWorker() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: os.Getenv("PAYORCH_TEMPORAL_ADDRESS"), Namespace: "default", Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, os.Getenv("PAYORCH_TASK_QUEUE"), worker.Options{})
	w.RegisterWorkflowWithOptions(BareWorkflow, workflow.RegisterOptions{Name: bareWorkflowName})
	w.RegisterActivity(NoopFirst)
	w.RegisterActivity(NoopSecond)
	ch := make(chan interface{})
	go func() { <-ctx.Done(); close(ch) }()
	return w.Run(ch)
}
