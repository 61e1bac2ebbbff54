package config

import (
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.TaskQueue != "payorch" || c.TemporalNamespace != "default" || c.DataDir != ".data" {
		t.Fatalf("defaults: %+v", c)
	}
	want := []time.Duration{2 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	if len(c.RetrySchedule) != 3 || c.RetrySchedule[0] != want[0] || c.RetrySchedule[1] != want[1] || c.RetrySchedule[2] != want[2] {
		t.Fatalf("schedule %v", c.RetrySchedule)
	}
	if len(c.APIKeys) != 0 {
		t.Fatal("no keys by default")
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"PAYORCH_HTTP_ADDR":        "8080",
		"PAYORCH_DATABASE_URL":     "mysql://x",
		"PAYORCH_TEMPORAL_ADDRESS": "temporal",
		"PAYORCH_API_KEYS":         "admin:secretsecret",
		"PAYORCH_RETRY_SCHEDULE":   "2h,soon",
		"PAYORCH_LOG_LEVEL":        "loud",
		"PAYORCH_LOG_FORMAT":       "xml",
	}
	for name, value := range cases {
		_, err := FromLookup(lookup(map[string]string{name: value}))
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("%s=%q: error %v should name the variable", name, value, err)
		}
	}
	for _, bad := range []string{"0s", "-1h", "1h,", "backend"} {
		if _, err := ParseRetrySchedule(bad); err == nil {
			t.Errorf("schedule %q accepted", bad)
		}
	}
	for _, bad := range []string{"backend", "backend:short", "backend:aaaaaaaa,support:aaaaaaaa", ":aaaaaaaa"} {
		if _, err := ParseAPIKeys(bad); err == nil {
			t.Errorf("keys %q accepted", bad)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	keys, err := ParseAPIKeys("backend:dev_backend_key, support:dev_support_key")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := Authenticate(keys, "dev_support_key"); !ok || k.Role != RoleSupport {
		t.Fatalf("support key: %v %v", k, ok)
	}
	if k, ok := Authenticate(keys, "dev_backend_key"); !ok || k.Role != RoleBackend {
		t.Fatalf("backend key: %v %v", k, ok)
	}
	if _, ok := Authenticate(keys, "dev_backend_ke"); ok {
		t.Fatal("prefix of a key accepted")
	}
	s, _ := FromLookup(lookup(map[string]string{"PAYORCH_RETRY_SCHEDULE": "2s, 3s,4s"}))
	if s.RetrySchedule[1] != 3*time.Second {
		t.Fatalf("%v", s.RetrySchedule)
	}
}
