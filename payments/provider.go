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
//
// Both implement BankTransfers; BankTransfersFromConfig says whether bank transfers go
// through the provider.
func FromConfig(cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) (Provider, error) {
	if cfg.StripeSecretKey != "" {
		return NewStripe(StripeConfig{SecretKey: cfg.StripeSecretKey, EUBankTransferCountry: cfg.BankTransfers.StripeEUCountry})
	}
	if pool == nil {
		return nil, errors.New("payments: the simulated provider needs a database pool")
	}
	return NewSimulated(pool, SimulatedOptions{SEPADelay: cfg.SimSEPADelay,
		BankTransferDelay: cfg.BankTransfers.SimDelay, Logger: log}), nil
}

// BankTransfersFromConfig returns the provider as the taker of bank transfers when the
// configuration lets it take them (PAYORCH_PSP_BANK_TRANSFERS) and it can; nil means
// bank-transfer invoices are paid to the merchant's own account and reconciled by hand.
func BankTransfersFromConfig(cfg config.Config, p Provider) BankTransfers {
	if !cfg.BankTransfers.ViaProvider {
		return nil
	}
	bt, _ := p.(BankTransfers)
	return bt
}
