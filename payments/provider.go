package payments

import (
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/config"
)

// FromConfig returns the provider the configuration selects: Stripe when
// STRIPE_SECRET_KEY is set, else the durable simulated provider keeping its charges in
// pool's database (with PAYORCH_SIM_SEPA_DELAY). A caller that must run the simulator's
// event loop (the worker) type-asserts the result to *Simulated.
func FromConfig(cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) (Provider, error) {
	if cfg.StripeSecretKey != "" {
		return NewStripe(StripeConfig{SecretKey: cfg.StripeSecretKey})
	}
	if pool == nil {
		return nil, errors.New("payments: the simulated provider needs a database pool")
	}
	return NewSimulated(pool, SimulatedOptions{SEPADelay: cfg.SimSEPADelay, Logger: log}), nil
}
