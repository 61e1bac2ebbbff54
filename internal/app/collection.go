package app

import (
	"payorch/collection"
	"payorch/dunning"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/settings"
)

// Collection returns the client that starts and steers invoice payment workflows with the
// process's task queue and the dunning policy in force (Settings). Boot with Temporal first.
func (a *App) Collection() *collection.Client {
	return &collection.Client{
		Temporal: a.Temporal, TaskQueue: a.Config.TaskQueue, RetrySchedule: a.Config.RetrySchedule, Settings: a.Settings(),
		Invoices: invoices.NewService(a.Pool), Ledger: ledger.New(a.Pool), Log: a.Log,
	}
}

// Settings returns the run-time settings (the dunning policy), with the configuration's
// dunning policy in force until one is set through the API.
func (a *App) Settings() *settings.Service {
	return settings.NewService(a.Pool, dunning.Policy{Default: a.Config.RetrySchedule, ByErrorType: a.Config.DunningByErrorType})
}

// Sweeper returns the worker's collection sweeper (see collection.Sweeper).
func (a *App) Sweeper() *collection.Sweeper {
	return &collection.Sweeper{Collection: a.Collection(), Log: a.Log, Grace: a.Config.Worker.SweepGrace}
}
