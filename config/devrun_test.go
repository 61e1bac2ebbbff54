package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// devDefault matches a default the dev stack's script sets: export NAME=${NAME:-value}.
var devDefault = regexp.MustCompile(`(?m)^export (PAYORCH_BANK_[A-Z_]+)=\$\{[A-Z_]+:-"?([^"}]*)"?\}$`)

// TestDevRunSetsAFakeBankAccount: make run (scripts/dev-run.sh) sets a bank account that
// passes validation, so bank-transfer emails go out in dev, and says it is fake.
func TestDevRunSetsAFakeBankAccount(t *testing.T) {
	raw, err := os.ReadFile("../scripts/dev-run.sh")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, m := range devDefault.FindAllStringSubmatch(string(raw), -1) {
		env[m[1]] = m[2]
	}
	if env["PAYORCH_BANK_IBAN"] == "" {
		t.Fatalf("dev-run.sh sets no PAYORCH_BANK_IBAN (found %v)", env)
	}
	c, err := FromLookup(lookup(env))
	if err != nil {
		t.Fatalf("the dev bank account does not validate: %v", err)
	}
	if c.BankIBAN != "DE89370400440532013000" || !strings.Contains(strings.ToLower(c.BankAccountHolder), "fake") || c.BankBIC == "" {
		t.Fatalf("dev bank account %q %q %q: want the test IBAN under a name that says it is fake", c.BankAccountHolder, c.BankIBAN, c.BankBIC)
	}
}
