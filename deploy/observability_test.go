package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var metricRef = regexp.MustCompile(`\b(?:payorch|temporal)_[a-z0-9_]+`)

// knownMetrics are the metric families that exist: every payorch_ name declared in the
// repository's Go code (Name: "payorch_…"), and every Temporal SDK metric (its constants
// in go.temporal.io/sdk/internal/common/metrics, at the version go.mod pins).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	decl := regexp.MustCompile(`Name:\s+"(payorch_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".data" || d.Name() == ".bin" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".git")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			known[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("go list go.temporal.io/sdk: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`TemporalMetricsPrefix \+ "([a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known["temporal_"+m[1]] = true
	}
	if !known["payorch_http_requests_total"] || !known["temporal_workflow_task_execution_failed"] {
		t.Fatalf("the known metric names are incomplete: %d found", len(known))
	}
	return known
}

// exists says whether a series name a query uses belongs to a known family, allowing the
// suffixes Prometheus exposition adds (_bucket, _count, _sum; tally's _total and _seconds).
func exists(known map[string]bool, ref string) bool {
	for _, suffix := range []string{"", "_bucket", "_count", "_sum", "_total", "_seconds", "_seconds_bucket", "_seconds_count", "_seconds_sum"} {
		if base, ok := strings.CutSuffix(ref, suffix); ok && known[base] {
			return true
		}
	}
	return false
}

// TestGrafanaDashboard: deploy/grafana/payorch-dashboard.json is a dashboard whose every
// panel queries Prometheus, and every metric it names exists.
func TestGrafanaDashboard(t *testing.T) {
	known := knownMetrics(t)
	b, err := os.ReadFile(filepath.Join("grafana", "payorch-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 8 {
		t.Fatalf("dashboard %q (%s) has %d panels", d.Title, d.UID, len(d.Panels))
	}
	seen := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			refs := metricRef.FindAllString(tg.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
			for _, r := range refs {
				seen[r] = true
				if !exists(known, r) {
					t.Errorf("panel %q uses %s, which no code exports", p.Title, r)
				}
			}
		}
	}
	for _, want := range []string{"payorch_http_requests_total", "payorch_payments_total", "payorch_wallet_movements_total",
		"payorch_webhook_deliveries_total", "payorch_webhook_delivery_lag_seconds_bucket", "payorch_sweeper_actions_total",
		"temporal_workflow_task_execution_failed_total"} {
		if !seen[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// TestAlertRules: deploy/prometheus/alerts.yml is a Prometheus rule file whose alerts have
// an expression on existing metrics, a severity and a summary, and covers errored
// invoices, webhook lag and workflow task failures.
func TestAlertRules(t *testing.T) {
	known := knownMetrics(t)
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	names := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			names[r.Alert] = r.Expr
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks alert, expr, severity or summary", r)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
			for _, ref := range metricRef.FindAllString(r.Expr, -1) {
				if !exists(known, ref) {
					t.Errorf("%s uses %s, which no code exports", r.Alert, ref)
				}
			}
		}
	}
	for alert, metric := range map[string]string{"PayorchErroredInvoicesRising": `invoice.errored`,
		"PayorchWebhookLagHigh": "payorch_webhook_delivery_lag_seconds_bucket", "PayorchWorkflowTaskFailures": "temporal_workflow_task_execution_failed_total"} {
		if !strings.Contains(names[alert], metric) {
			t.Errorf("alert %s must watch %s, has %q", alert, metric, names[alert])
		}
	}
}
