package config

import (
	"strings"
	"testing"
	"time"
)

func TestEventsOutSettings(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "" || c.MailFrom != DefaultMailFrom || c.PortalURL != DefaultPortalURL || c.OutboxPollInterval != time.Second ||
		c.WebhookAllowPrivateNetworks {
		t.Fatalf("defaults: %q %q %q %s", c.SMTPURL, c.MailFrom, c.PortalURL, c.OutboxPollInterval)
	}
	c, err = FromLookup(lookup(map[string]string{
		"PAYORCH_SMTP_URL": "smtp://u:p@mail.example.com:587", "PAYORCH_MAIL_FROM": "Acme <billing@acme.test>",
		"PAYORCH_PORTAL_URL": "https://portal.acme.test", "PAYORCH_OUTBOX_POLL_INTERVAL": "250ms",
		"PAYORCH_BANK_IBAN": "fr76 3000 6000 0112 3456 7890 189", "PAYORCH_BANK_BIC": "agrifrpp", "PAYORCH_BANK_ACCOUNT_HOLDER": "Acme SAS",
		"PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "smtp://u:p@mail.example.com:587" || c.OutboxPollInterval != 250*time.Millisecond ||
		c.BankIBAN != "FR7630006000011234567890189" || c.BankBIC != "AGRIFRPP" || c.BankAccountHolder != "Acme SAS" || !c.WebhookAllowPrivateNetworks {
		t.Fatalf("%+v", c)
	}
	bad := []struct{ name, value string }{
		{"PAYORCH_SMTP_URL", "http://mail.example.com"},
		{"PAYORCH_SMTP_URL", "smtp://"},
		{"PAYORCH_SMTP_URL", "smtp://u:secretpw@h:99999"},
		{"PAYORCH_MAIL_FROM", "not an address"},
		{"PAYORCH_PORTAL_URL", "portal.acme.test"},
		{"PAYORCH_PORTAL_URL", "ftp://portal.acme.test"},
		{"PAYORCH_OUTBOX_POLL_INTERVAL", "often"},
		{"PAYORCH_OUTBOX_POLL_INTERVAL", "0s"},
		{"PAYORCH_OUTBOX_POLL_INTERVAL", "2h"},
		{"PAYORCH_BANK_IBAN", "FR7630006000011234567890188"}, // wrong check digits
		{"PAYORCH_BANK_IBAN", "not an iban"},
		{"PAYORCH_BANK_BIC", "AGRI"},
		{"PAYORCH_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "yes please"},
	}
	for _, b := range bad {
		_, err := FromLookup(lookup(map[string]string{b.name: b.value}))
		if err == nil || !strings.HasPrefix(err.Error(), b.name+":") {
			t.Errorf("%s=%q: error %v should name the variable", b.name, b.value, err)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the error repeats the password: %v", b.name, err)
		}
	}
}
