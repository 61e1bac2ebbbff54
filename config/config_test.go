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
	if c.Worker.WorkflowCache != 10000 {
		t.Fatalf("worker workflow cache %d, want the SDK's 10000", c.Worker.WorkflowCache)
	}
	if c, err := FromLookup(lookup(map[string]string{"PAYORCH_WORKER_WORKFLOW_CACHE": "500"})); err != nil || c.Worker.WorkflowCache != 500 {
		t.Fatalf("worker workflow cache 500: %d, %v", c.Worker.WorkflowCache, err)
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
	for _, bad := range []string{"0", "-5", "lots", "1000001"} {
		if _, err := FromLookup(lookup(map[string]string{"PAYORCH_WORKER_WORKFLOW_CACHE": bad})); err == nil || !strings.HasPrefix(err.Error(), "PAYORCH_WORKER_WORKFLOW_CACHE:") {
			t.Errorf("PAYORCH_WORKER_WORKFLOW_CACHE=%q: error %v should name the variable", bad, err)
		}
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

// TestDatabasePoolSettings: the pool size and the database timeouts have defaults (the
// store's), can be set, and a bad value names its variable.
func TestDatabasePoolSettings(t *testing.T) {
	c, err := FromLookup(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseMaxConns != 20 || c.DatabaseLockTimeout != 3*time.Second || c.DatabaseStatementTimeout != 30*time.Second {
		t.Fatalf("defaults %d %s %s", c.DatabaseMaxConns, c.DatabaseLockTimeout, c.DatabaseStatementTimeout)
	}
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_DATABASE_MAX_CONNS": "50", "PAYORCH_DATABASE_LOCK_TIMEOUT": "500ms", "PAYORCH_DATABASE_STATEMENT_TIMEOUT": "1m"}))
	if err != nil || c.DatabaseMaxConns != 50 || c.DatabaseLockTimeout != 500*time.Millisecond || c.DatabaseStatementTimeout != time.Minute {
		t.Fatalf("%+v %v", c, err)
	}
	for name, value := range map[string]string{
		"PAYORCH_DATABASE_MAX_CONNS":         "1",
		"PAYORCH_DATABASE_LOCK_TIMEOUT":      "forever",
		"PAYORCH_DATABASE_STATEMENT_TIMEOUT": "0s",
	} {
		_, err := FromLookup(lookup(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v", name, value, err)
		}
	}
	_, err = FromLookup(lookup(map[string]string{"PAYORCH_DATABASE_LOCK_TIMEOUT": "2m", "PAYORCH_DATABASE_STATEMENT_TIMEOUT": "1m"}))
	if err == nil || !strings.Contains(err.Error(), "PAYORCH_DATABASE_LOCK_TIMEOUT") {
		t.Errorf("lock timeout above statement timeout: %v", err)
	}
}

// TestDunningPolicyConfiguration: PAYORCH_DUNNING_BY_ERROR_TYPE gives retried types their
// own schedule, checked by the policy's one rule (package dunning); a bad value names the
// variable, and PAYORCH_RETRY_SCHEDULE is bounded like every schedule of the policy.
func TestDunningPolicyConfiguration(t *testing.T) {
	c, err := FromLookup(lookup(map[string]string{"PAYORCH_DUNNING_BY_ERROR_TYPE": " processing_error=15m,1h,6h ; unknown=30m;"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DunningByErrorType["processing_error"]; len(got) != 3 || got[0] != 15*time.Minute || got[2] != 6*time.Hour ||
		len(c.DunningByErrorType) != 2 || c.DunningByErrorType["unknown"][0] != 30*time.Minute {
		t.Fatalf("by error type %v", c.DunningByErrorType)
	}
	if c, err := FromLookup(lookup(nil)); err != nil || len(c.DunningByErrorType) != 0 {
		t.Fatalf("default: %v %v", c.DunningByErrorType, err)
	}
	for _, bad := range []string{"processing_error", "processing_error=soon", "fraud=1h", "payment_method_expired=1h",
		"card_declined=1h", "declined=1h;declined=2h", "declined=0s", "=1h", "processing_error=24h,48h,72h"} {
		_, err := FromLookup(lookup(map[string]string{"PAYORCH_DUNNING_BY_ERROR_TYPE": bad}))
		if err == nil || !strings.HasPrefix(err.Error(), "PAYORCH_DUNNING_BY_ERROR_TYPE:") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
	// PAYORCH_RETRY_SCHEDULE keeps its limits from before the dunning policy (1 to 20
	// positive delays, none too long), so existing configurations still boot; the API's
	// tighter bounds apply to what a PUT sets. A type's schedule still fits within it.
	eleven := "1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m"
	if c, err := FromLookup(lookup(map[string]string{"PAYORCH_RETRY_SCHEDULE": eleven + ",1000h",
		"PAYORCH_DUNNING_BY_ERROR_TYPE": "processing_error=15m"})); err != nil || len(c.RetrySchedule) != 12 {
		t.Errorf("twelve delays, one of 1000h: %v %v", c.RetrySchedule, err)
	}
	_, err = FromLookup(lookup(map[string]string{"PAYORCH_RETRY_SCHEDULE": eleven + "," + eleven}))
	if err == nil || !strings.Contains(err.Error(), "PAYORCH_RETRY_SCHEDULE: between 1 and 20 delays, got 22") {
		t.Errorf("twenty-two delays: %v", err)
	}
	// A type's delay is at least a minute unless PAYORCH_DUNNING_MIN_DELAY lowers the floor
	// (development and tests).
	_, err = FromLookup(lookup(map[string]string{"PAYORCH_DUNNING_BY_ERROR_TYPE": "processing_error=1ns"}))
	if err == nil || !strings.Contains(err.Error(), "must be at least 1m") {
		t.Errorf("1ns: %v", err)
	}
	c, err = FromLookup(lookup(map[string]string{"PAYORCH_DUNNING_BY_ERROR_TYPE": "processing_error=1s,2s", "PAYORCH_DUNNING_MIN_DELAY": "1s"}))
	if err != nil || c.DunningMinDelay != time.Second || c.DunningByErrorType["processing_error"][1] != 2*time.Second {
		t.Errorf("floor lowered to 1s: %+v %v", c.DunningByErrorType, err)
	}
	if c, err := FromLookup(lookup(nil)); err != nil || c.DunningMinDelay != time.Minute {
		t.Errorf("default floor %s %v", c.DunningMinDelay, err)
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if _, err := FromLookup(lookup(map[string]string{"PAYORCH_DUNNING_MIN_DELAY": bad})); err == nil || !strings.Contains(err.Error(), "PAYORCH_DUNNING_MIN_DELAY") {
			t.Errorf("floor %q: %v", bad, err)
		}
	}
}
