// Package layering checks the one-way imports the project's layout promises: the
// workflows (deterministic, replayed) reach no database, HTTP or payment-provider package,
// and the pure rule packages stay pure.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg imports, directly and transitively (go list -deps).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestWorkflowsImportNoIO(t *testing.T) {
	forbidden := []string{"github.com/jackc/pgx", "github.com/stripe/", "github.com/gin-gonic/",
		"payorch/store", "payorch/payments", "payorch/activities", "payorch/ledger", "payorch/invoices",
		"payorch/customers", "payorch/api", "payorch/collection", "payorch/outbox", "payorch/webhooks", "payorch/mail"}
	for _, pkg := range []string{"payorch/workflows", "payorch/steps", "payorch/contracts", "payorch/dunning", "payorch/declines"} {
		for _, d := range deps(t, "../../"+strings.TrimPrefix(pkg, "payorch/")) {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s imports %s (through its dependencies): it must stay free of I/O", pkg, d)
				}
			}
		}
	}
}

func TestPureRulesImportNoTemporal(t *testing.T) {
	for _, pkg := range []string{"dunning", "declines"} {
		for _, d := range deps(t, "../../"+pkg) {
			if strings.HasPrefix(d, "go.temporal.io/") {
				t.Errorf("payorch/%s imports %s: a rule is a pure function, testable without Temporal", pkg, d)
			}
		}
	}
}
