package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"payorch/api"
	"payorch/config"
)

// TestDunningCommands: payorchctl dunning get / set against a real API server and
// database, as text and --json; the API's validation comes back as a one-line error
// (exit 1) and nothing is changed; a support key may read but not set.
func TestDunningCommands(t *testing.T) {
	pool, _ := env.Postgres.NewPool(t)
	keys, err := config.ParseAPIKeys("backend:" + backendKey + ",support:" + supportKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{Pool: pool, Temporal: env.Temporal, Keys: keys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	t.Setenv("PAYORCH_API_URL", srv.URL)
	t.Setenv("PAYORCH_API_KEY", backendKey)

	if out := mustCtl(t, "dunning", "get"); !strings.Contains(out, "dunning policy from configuration") ||
		!hasRow(out, "default", "2h, 12h, 24h") || !strings.Contains(out, "fraud") {
		t.Fatalf("dunning get:\n%s", out)
	}
	out := mustCtl(t, "dunning", "set", "--default", "2h,12h,24h", "--type", "processing_error=15m,1h,6h", "--type", "unknown=30m")
	if !strings.Contains(out, "dunning policy from settings") || !hasRow(out, "processing_error", "15m, 1h, 6h") ||
		!hasRow(out, "unknown", "30m") || !strings.Contains(out, "applies to workflows started from now on") {
		t.Fatalf("dunning set:\n%s", out)
	}
	var p struct {
		Default     []string            `json:"default"`
		ByErrorType map[string][]string `json:"by_error_type"`
		Source      string              `json:"source"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, "--json", "dunning", "get")), &p); err != nil || p.Source != "settings" ||
		!reflect.DeepEqual(p.ByErrorType, map[string][]string{"processing_error": {"15m", "1h", "6h"}, "unknown": {"30m"}}) {
		t.Fatalf("dunning get --json: %+v (%v)", p, err)
	}

	// Refused: by the API (its typed error, one line) or before anything is sent.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"dunning", "set", "--default", "2h", "--type", "fraud=1h"}, "PUT /v1/settings/dunning: 400 error_type_rule_fixed (by_error_type.fraud)"},
		{[]string{"dunning", "set", "--default", "2h,-1h"}, "PUT /v1/settings/dunning: 400 schedule_invalid (default)"},
		{[]string{"dunning", "set", "--type", "declined=1h"}, "dunning set needs --default"},
		{[]string{"dunning", "set", "--default", "2h", "--type", "declined"}, "is not error_type=delay,delay"},
		{[]string{"dunning", "set", "--default", "2h", "--type", "declined=1h", "--type", "declined=2h"}, "given twice"},
		{[]string{"dunning", "frob"}, `"frob" is not get or set`},
		{[]string{"dunning"}, "get or set expected"},
	} {
		code, out, errOut := ctl(t, bad.args...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "payorchctl: ") || !strings.Contains(errOut, bad.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("payorchctl %v: exit %d, stdout %q, stderr %q, want %q", bad.args, code, out, errOut, bad.want)
		}
	}
	t.Setenv("PAYORCH_API_KEY", supportKey)
	code, _, errOut := ctl(t, "dunning", "set", "--default", "1h")
	if code != 1 || !strings.Contains(errOut, "PUT /v1/settings/dunning: 403") {
		t.Errorf("set with a support key: exit %d, %q", code, errOut)
	}
	// Nothing refused changed the policy.
	if out := mustCtl(t, "dunning", "get"); !hasRow(out, "processing_error", "15m, 1h, 6h") || !hasRow(out, "default", "2h, 12h, 24h") {
		t.Fatalf("after refusals:\n%s", out)
	}
}

// hasRow reports whether out has a line "  <name>  <value>" (columns padded).
func hasRow(out, name, value string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == name && strings.Join(f[1:], " ") == value {
			return true
		}
	}
	return false
}
