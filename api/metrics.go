package api

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"payorch/metrics"
)

// metricsRoute serves GET /metrics (Prometheus text format). Like /healthz it needs no API
// key, so a Prometheus scraper needs no secret; it names routes and counts, never ids or
// amounts. Keep it off the public ingress (README "Observability").
func (s *Server) metricsRoute() {
	h := metrics.Handler()
	s.engine.GET("/metrics", func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) })
}

// httpMetrics counts every request by method, route pattern (":id", not the id) and
// status, and observes its latency. Requests that match no route count as "unmatched".
func httpMetrics(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	metrics.HTTPRequests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
	metrics.HTTPDuration.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
}
