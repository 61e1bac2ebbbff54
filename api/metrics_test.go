package api

import (
	"net/http"
	"strings"
	"testing"

	"payorch/metrics/metricstest"
)

// TestMetricsCountRequests: GET /metrics needs no API key and shows an API request counted
// by its route pattern and status, with its latency observed.
func TestMetricsCountRequests(t *testing.T) {
	h := newHarness(t)
	const series = `method="GET",route="/v1/customers/:id",status="404"`
	before := metricstest.Scrape(t, h.srv.Handler())
	mustStatus(t, h.do("GET", "/v1/customers/cus_nope", supportKey, nil), http.StatusNotFound)
	mustStatus(t, h.do("GET", "/v1/customers/cus_nope2", supportKey, nil), http.StatusNotFound)
	r := h.do("GET", "/metrics", "", nil)
	mustStatus(t, r, http.StatusOK)
	after := string(r.Body)
	if got := metricstest.Value(after, "payorch_http_requests_total", series) - metricstest.Value(before, "payorch_http_requests_total", series); got != 2 {
		t.Fatalf("payorch_http_requests_total{%s} moved by %v, want 2", series, got)
	}
	const lat = `method="GET",route="/v1/customers/:id"`
	if got := metricstest.Value(after, "payorch_http_request_duration_seconds_count", lat) - metricstest.Value(before, "payorch_http_request_duration_seconds_count", lat); got != 2 {
		t.Fatalf("latency count moved by %v, want 2", got)
	}
	if strings.Contains(after, "cus_nope") {
		t.Fatal("a raw path (an id) reached a label")
	}
}
