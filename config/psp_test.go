package config

import (
	"strings"
	"testing"
	"time"
)

func TestSimSEPADelay(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SimSEPADelay != 10*time.Second {
		t.Fatalf("default SEPA delay %s, want 10s", c.SimSEPADelay)
	}
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_SIM_SEPA_DELAY": "250ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SimSEPADelay != 250*time.Millisecond {
		t.Fatalf("SEPA delay %s, want 250ms", c.SimSEPADelay)
	}
	for _, v := range []string{"soon", "0s", "-1s", "721h"} {
		_, err := FromLookup(lookup(map[string]string{"PAYORCH_SIM_SEPA_DELAY": v}))
		if err == nil || !strings.HasPrefix(err.Error(), "PAYORCH_SIM_SEPA_DELAY:") {
			t.Errorf("PAYORCH_SIM_SEPA_DELAY=%q: error %v should name the variable", v, err)
		}
	}
}
