package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinned returns the version tools/temporal/go.mod requires of module.
func pinned(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "tools", "temporal", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+v(\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("tools/temporal/go.mod does not pin %s", module)
	}
	return m[1]
}

// TestComposeRunsTheDevServersTemporal: docker-compose.yml runs temporalio/server and its
// admin-tools at the version of go.temporal.io/server that the dev server (the Temporal CLI
// built from tools/temporal) runs, and the Web UI at the CLI's embedded UI version, so
// production and every test run one Temporal; the deprecated auto-setup image is gone.
func TestComposeRunsTheDevServersTemporal(t *testing.T) {
	server, ui := pinned(t, "go.temporal.io/server"), pinned(t, "github.com/temporalio/ui-server/v2")
	p := loadCompose(t)
	images := map[string]string{}
	for _, s := range p.Services {
		images[s.Name] = s.Image
		if strings.Contains(s.Image, "auto-setup") {
			t.Errorf("%s still uses %s (deprecated)", s.Name, s.Image)
		}
	}
	if want := "temporalio/server:" + server; images["temporal"] != want {
		t.Errorf("temporal image %q, want %q (tools/temporal pins go.temporal.io/server v%s)", images["temporal"], want, server)
	}
	for _, job := range []string{"temporal-schema", "temporal-setup"} {
		if !strings.HasPrefix(images[job], "temporalio/admin-tools:"+server+"-") && images[job] != "temporalio/admin-tools:"+server {
			t.Errorf("%s image %q, want temporalio/admin-tools at %s", job, images[job], server)
		}
	}
	if want := "temporalio/ui:" + ui; images["temporal-ui"] != want {
		t.Errorf("temporal-ui image %q, want %q", images["temporal-ui"], want)
	}
}
