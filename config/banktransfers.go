package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of the bank-transfer settings.
const (
	DefaultPSPBankTransfers        = "true"
	DefaultSimBankTransferDelay    = "10s"
	DefaultStripeEUTransferCountry = "DE"
)

// BankTransferConfig says who takes bank transfers for bank-transfer invoices.
type BankTransferConfig struct {
	// ViaProvider lets the payment provider take them (PAYORCH_PSP_BANK_TRANSFERS, true by
	// default): Stripe's customer-balance bank transfers or the simulated provider's
	// virtual IBANs; the email shows the provider's account and reference, and the
	// provider's events reconcile the invoice. False: the email shows the merchant's own
	// account (PAYORCH_BANK_*) and invoices are reconciled by hand
	// (POST /v1/invoices/{id}/reconcile), as for a merchant without a PSP.
	ViaProvider bool
	// SimDelay is how long after the instructions a simulated customer's (first) transfer
	// arrives, and the gap between two partial ones (PAYORCH_SIM_BANK_TRANSFER_DELAY).
	SimDelay time.Duration
	// StripeEUCountry is the country of the IBAN Stripe gives for euro transfers
	// (PAYORCH_STRIPE_EU_BANK_TRANSFER_COUNTRY: BE, DE, ES, FR, IE or NL).
	StripeEUCountry string
}

// loadBankTransfers reads the bank-transfer settings.
func (c *Config) loadBankTransfers(get func(name, def string) string) error {
	switch v := strings.ToLower(get("PAYORCH_PSP_BANK_TRANSFERS", DefaultPSPBankTransfers)); v {
	case "true", "1", "yes":
		c.BankTransfers.ViaProvider = true
	case "false", "0", "no":
		c.BankTransfers.ViaProvider = false
	default:
		return fmt.Errorf("PAYORCH_PSP_BANK_TRANSFERS: %q must be true or false", v)
	}
	raw := get("PAYORCH_SIM_BANK_TRANSFER_DELAY", DefaultSimBankTransferDelay)
	d, err := time.ParseDuration(raw)
	if err != nil || d < time.Millisecond || d > 30*24*time.Hour {
		return fmt.Errorf("PAYORCH_SIM_BANK_TRANSFER_DELAY: %q must be a duration from 1ms to 720h, like 10s", raw)
	}
	c.BankTransfers.SimDelay = d
	country := strings.ToUpper(get("PAYORCH_STRIPE_EU_BANK_TRANSFER_COUNTRY", DefaultStripeEUTransferCountry))
	switch country {
	case "BE", "DE", "ES", "FR", "IE", "NL":
		c.BankTransfers.StripeEUCountry = country
	default:
		return fmt.Errorf("PAYORCH_STRIPE_EU_BANK_TRANSFER_COUNTRY: %q must be BE, DE, ES, FR, IE or NL", country)
	}
	return nil
}
