package api

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var ginParam = regexp.MustCompile(`:([a-zA-Z_]+)`)

// TestOpenAPIMatchesRouter checks that the document is valid OpenAPI 3, that every routed
// method+path is documented and that every documented one is routed.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	h := newHarness(t)
	routed := map[string]bool{}
	for _, r := range h.srv.Routes() {
		routed[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routed but not in openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in openapi.json but not routed: %v", extra)
	}
	r := h.do("GET", "/openapi.json", "", nil)
	mustStatus(t, r, http.StatusOK)
}

func TestHealthAndReady(t *testing.T) {
	h := newHarness(t)
	mustStatus(t, h.do("GET", "/healthz", "", nil), 200)
	r := h.do("GET", "/readyz", "", nil)
	mustStatus(t, r, 200)
	checks := r.JSON(t)["checks"].(map[string]any)
	if checks["postgres"] != "ok" || checks["temporal"] != "ok" {
		t.Fatalf("checks %v", checks)
	}
	// Without Temporal the API is not ready.
	down := New(Deps{Pool: h.pool, Keys: h.srv.keys, Logger: h.srv.log})
	h2 := &harness{t: t, srv: down, pool: h.pool}
	mustStatus(t, h2.do("GET", "/readyz", "", nil), 503)
	nr := h.do("GET", "/v1/nothing", backendKey, nil)
	mustStatus(t, nr, 404)
	if nr.ErrorCode(t) != "route_not_found" {
		t.Fatal(string(nr.Body))
	}
	mustStatus(t, h.do("DELETE", "/v1/customers", backendKey, nil), 405)
}
