package main

import (
	"go.temporal.io/sdk/worker"

	"payorch/internal/app"
)

// register adds every workflow and activity the worker hosts.
func register(w worker.Worker, a *app.App) {
	_ = w
	_ = a
}
