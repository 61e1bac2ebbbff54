package config

import (
	"strings"
	"testing"
	"time"
)

// TestBankTransferSettings: the provider takes bank transfers unless told not to; the
// simulated delay and Stripe's IBAN country are read and checked.
func TestBankTransferSettings(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.BankTransfers.ViaProvider || c.BankTransfers.SimDelay != 10*time.Second || c.BankTransfers.StripeEUCountry != "DE" {
		t.Fatalf("defaults: %+v", c.BankTransfers)
	}
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_PSP_BANK_TRANSFERS": "false",
		"PAYORCH_SIM_BANK_TRANSFER_DELAY": "2s", "PAYORCH_STRIPE_EU_BANK_TRANSFER_COUNTRY": "fr"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BankTransfers.ViaProvider || c.BankTransfers.SimDelay != 2*time.Second || c.BankTransfers.StripeEUCountry != "FR" {
		t.Fatalf("set: %+v", c.BankTransfers)
	}
	for name, value := range map[string]string{
		"PAYORCH_PSP_BANK_TRANSFERS":              "maybe",
		"PAYORCH_SIM_BANK_TRANSFER_DELAY":         "0s",
		"PAYORCH_STRIPE_EU_BANK_TRANSFER_COUNTRY": "GB",
	} {
		_, err := FromLookup(lookup(map[string]string{name: value}))
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("%s=%q: error %v should name the variable", name, value, err)
		}
	}
}
