// Package activities holds every piece of I/O the workflows need, as methods on one struct
// that carries the dependencies (database pool, payment provider, clock). Workflows call
// them by method reference; the worker registers the struct once.
package activities

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/payments"
)

// Activities is registered on the worker with worker.RegisterActivity(&Activities{…}).
type Activities struct {
	// Pool is the PostgreSQL pool (the ledger and invoices live there).
	Pool *pgxpool.Pool
	// Provider charges payment methods (Stripe or the simulated provider).
	Provider payments.Provider
	// BankTransfers takes bank-transfer invoices' payments through the provider
	// (payments.BankTransfersFromConfig); nil: the merchant's own account and manual
	// reconciliation.
	BankTransfers payments.BankTransfers
	// Now is the clock (time.Now in production).
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}
