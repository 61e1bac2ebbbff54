package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	path, _ := filepath.Abs(filepath.Join("..", "docker-compose.yml"))
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithName("payorch"),
		cli.WithEnv([]string{"PAYORCH_API_KEYS=backend:compose_check_key"}),
		cli.WithWorkingDirectory(filepath.Dir(path)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeServicesAndWiring(t *testing.T) {
	p := loadCompose(t)
	want := []string{"api", "postgresql", "temporal", "temporal-schema", "temporal-setup", "temporal-ui", "worker"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	healthy := func(svc, dep string, cond string) {
		t.Helper()
		s, _ := p.GetService(svc)
		d, ok := s.DependsOn[dep]
		if !ok || d.Condition != cond {
			t.Errorf("%s must depend on %s with condition %s, has %+v", svc, dep, cond, s.DependsOn)
		}
	}
	for _, svc := range []string{"worker", "api"} {
		healthy(svc, "postgresql", types.ServiceConditionHealthy)
		healthy(svc, "temporal-setup", types.ServiceConditionCompletedSuccessfully)
		s, _ := p.GetService(svc)
		env := s.Environment
		if v := env["PAYORCH_TEMPORAL_ADDRESS"]; v == nil || *v != "temporal:7233" {
			t.Errorf("%s: PAYORCH_TEMPORAL_ADDRESS = %v", svc, v)
		}
		if v := env["PAYORCH_DATABASE_URL"]; v == nil || !strings.Contains(*v, "@postgresql:5432/payorch") {
			t.Errorf("%s: PAYORCH_DATABASE_URL = %v", svc, v)
		}
		if s.Build == nil || s.Build.Target != "payorch" {
			t.Errorf("%s must build the payorch image target", svc)
		}
	}
	// The schema job runs first; the server waits for it; the namespace and search
	// attribute job waits for the server; the UI and payorch's processes wait for that.
	healthy("temporal-schema", "postgresql", types.ServiceConditionHealthy)
	healthy("temporal", "postgresql", types.ServiceConditionHealthy)
	healthy("temporal", "temporal-schema", types.ServiceConditionCompletedSuccessfully)
	healthy("temporal-setup", "temporal", types.ServiceConditionStarted)
	healthy("temporal-ui", "temporal-setup", types.ServiceConditionCompletedSuccessfully)
	schema, _ := p.GetService("temporal-schema")
	schemaCmd := strings.Join(schema.Command, " ")
	for _, want := range []string{"temporal-sql-tool", "create-database", "setup-schema -v 0.0", "update-schema -d",
		"/etc/temporal/schema/postgresql/v12/"} {
		if !strings.Contains(schemaCmd, want) {
			t.Errorf("temporal-schema does not run %q: %s", want, schemaCmd)
		}
	}
	if v := schema.Environment["SQL_PLUGIN"]; v == nil || *v != "postgres12" {
		t.Errorf("temporal-schema SQL_PLUGIN = %v", v)
	}
	for _, svc := range []string{"temporal-schema", "temporal-setup"} {
		s, _ := p.GetService(svc)
		if s.Restart != "no" {
			t.Errorf("%s is a one-shot job: restart %q", svc, s.Restart)
		}
	}
	for _, svc := range []string{"postgresql", "temporal", "api"} {
		s, _ := p.GetService(svc)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", svc)
		}
	}
	setup, _ := p.GetService("temporal-setup")
	cmd := strings.Join(setup.Command, " ")
	if !strings.Contains(cmd, "temporal operator namespace create") || !strings.Contains(cmd, "cluster health") {
		t.Errorf("temporal-setup must wait for the server and register the namespace: %s", cmd)
	}
	for _, sa := range []string{"CustomerId=Keyword", "InvoiceId=Keyword", "SubscriptionId=Keyword", "PaymentStatus=Keyword", "NextRetryAt=Datetime"} {
		if !strings.Contains(cmd, sa) {
			t.Errorf("temporal-setup does not register %s", sa)
		}
	}
	api, _ := p.GetService("api")
	if len(api.Ports) != 1 || api.Ports[0].Target != 8080 {
		t.Errorf("api ports %+v", api.Ports)
	}
	if v := api.Environment["PAYORCH_API_KEYS"]; v == nil || *v != "backend:compose_check_key" {
		t.Errorf("api keys must come from the environment, got %v", v)
	}
}

// TestComposeRequiresAPIKeys: the API must not start with a default key in production.
func TestComposeRequiresAPIKeys(t *testing.T) {
	path, _ := filepath.Abs(filepath.Join("..", "docker-compose.yml"))
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithName("payorch"), cli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "PAYORCH_API_KEYS") {
		t.Fatalf("loading without PAYORCH_API_KEYS should fail naming it, got %v", err)
	}
}
