package app

import (
	"payorch/collection"
	"payorch/invoices"
	"payorch/ledger"
)

// Collection returns the client that starts and steers invoice payment workflows with the
// process's task queue and retry schedule. Boot with Temporal first.
func (a *App) Collection() *collection.Client {
	return &collection.Client{
		Temporal: a.Temporal, TaskQueue: a.Config.TaskQueue, RetrySchedule: a.Config.RetrySchedule,
		Invoices: invoices.NewService(a.Pool), Ledger: ledger.New(a.Pool), Log: a.Log,
	}
}

// Sweeper returns the worker's collection sweeper (see collection.Sweeper).
func (a *App) Sweeper() *collection.Sweeper {
	return &collection.Sweeper{Collection: a.Collection(), Log: a.Log, Grace: a.Config.Worker.SweepGrace}
}
