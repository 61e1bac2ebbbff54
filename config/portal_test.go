package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPortalLimits(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PortalMaxLoad.String() != "100" || c.PortalMaxBalance.String() != "500" {
		t.Fatalf("portal defaults %s / %s, want 100 / 500", c.PortalMaxLoad, c.PortalMaxBalance)
	}
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_PORTAL_MAX_LOAD": "250.50", "PAYORCH_PORTAL_MAX_BALANCE": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PortalMaxLoad.String() != "250.5" || c.PortalMaxBalance.String() != "1000" {
		t.Fatalf("portal limits %s / %s", c.PortalMaxLoad, c.PortalMaxBalance)
	}
	bad := []struct{ name, value string }{
		{"PAYORCH_PORTAL_MAX_LOAD", "lots"},
		{"PAYORCH_PORTAL_MAX_LOAD", "0"},
		{"PAYORCH_PORTAL_MAX_LOAD", "-5"},
		{"PAYORCH_PORTAL_MAX_LOAD", "1e3"},
		{"PAYORCH_PORTAL_MAX_BALANCE", "abc"},
		{"PAYORCH_PORTAL_MAX_BALANCE", "50"}, // below the default max load (100)
	}
	for _, b := range bad {
		_, err := FromLookup(lookup(map[string]string{b.name: b.value}))
		if err == nil || !strings.HasPrefix(err.Error(), b.name+":") {
			t.Errorf("%s=%q: error %v should name the variable", b.name, b.value, err)
		}
	}
}

func TestMerchantAndPortalSessions(t *testing.T) {
	c, err := FromLookup(lookup(map[string]string{
		"PAYORCH_MERCHANT_NAME": "Acme SAS", "PAYORCH_MERCHANT_ADDRESS": `1 rue de la Paix\n75002 Paris | France`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Merchant.Name != "Acme SAS" || c.Merchant.Address != "1 rue de la Paix\n75002 Paris\nFrance" {
		t.Fatalf("merchant %+v", c.Merchant)
	}
	if !c.PortalSessions.SecretGenerated || len(c.PortalSessions.Secret) < 32 || c.PortalSessions.TTL.String() != "1h0m0s" || c.PortalSessions.EmailTTL.String() != "168h0m0s" {
		t.Fatalf("portal sessions %+v", c.PortalSessions)
	}
	secret := strings.Repeat("s", 32)
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_PORTAL_SECRET": secret, "PAYORCH_PORTAL_SESSION_TTL": "15m", "PAYORCH_PORTAL_EMAIL_LINK_TTL": "72h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PortalSessions.SecretGenerated || string(c.PortalSessions.Secret) != secret || c.PortalSessions.TTL.String() != "15m0s" || c.PortalSessions.EmailTTL.String() != "72h0m0s" {
		t.Fatalf("portal sessions %+v", c.PortalSessions)
	}
	bad := []struct{ name, value string }{
		{"PAYORCH_MERCHANT_NAME", "Acme\x00"},
		{"PAYORCH_MERCHANT_TAX_ID", strings.Repeat("x", 301)},
		{"PAYORCH_PORTAL_SECRET", "short"},
		{"PAYORCH_PORTAL_SESSION_TTL", "30s"},
		{"PAYORCH_PORTAL_SESSION_TTL", "48h"},
		{"PAYORCH_PORTAL_EMAIL_LINK_TTL", "soon"},
	}
	for _, b := range bad {
		_, err := FromLookup(lookup(map[string]string{b.name: b.value}))
		if err == nil || !strings.HasPrefix(err.Error(), b.name+":") {
			t.Errorf("%s=%q: error %v should name the variable", b.name, b.value, err)
		}
	}
}

// TestPortalSecretFromDataDir: without PAYORCH_PORTAL_SECRET, the key make run keeps in
// the data directory is used, so every process of the dev stack signs alike.
func TestPortalSecretFromDataDir(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(dir, "portal-secret"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := FromLookup(lookup(map[string]string{"PAYORCH_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PortalSessions.SecretGenerated || string(c.PortalSessions.Secret) != key {
		t.Fatalf("secret %q generated=%v", c.PortalSessions.Secret, c.PortalSessions.SecretGenerated)
	}
}
