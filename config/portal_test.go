package config

import (
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
