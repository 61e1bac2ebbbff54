package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/outbox"
	"payorch/webhooks"
)

// webhookRoutes registers webhook endpoint management and delivery inspection. Reads and
// delivery retries are open to support keys; everything that changes an endpoint is
// backend only.
func (s *Server) webhookRoutes() {
	s.post("/v1/webhook-endpoints", backendOnly, s.createWebhookEndpoint)
	s.get("/v1/webhook-endpoints", anyRole, s.listWebhookEndpoints)
	s.get("/v1/webhook-endpoints/:id", anyRole, s.getWebhookEndpoint)
	s.engine.PATCH("/v1/webhook-endpoints/:id", s.authorize(backendOnly...), s.updateWebhookEndpoint)
	s.engine.DELETE("/v1/webhook-endpoints/:id", s.authorize(backendOnly...), s.deleteWebhookEndpoint)
	s.post("/v1/webhook-endpoints/:id/rotate-secret", backendOnly, s.rotateWebhookSecret)
	s.get("/v1/webhook-endpoints/:id/deliveries", anyRole, s.listWebhookDeliveries)
	s.post("/v1/webhook-deliveries/:id/retry", anyRole, s.retryWebhookDelivery)
}

func (s *Server) createWebhookEndpoint(c *gin.Context) {
	var in webhooks.CreateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.webhooks.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listWebhookEndpoints(c *gin.Context) {
	limit, before, err := listPage(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.webhooks.List(c.Request.Context(), limit, before)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) getWebhookEndpoint(c *gin.Context) {
	out, err := s.webhooks.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) updateWebhookEndpoint(c *gin.Context) {
	var in webhooks.UpdateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.webhooks.Update(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) deleteWebhookEndpoint(c *gin.Context) {
	id := c.Param("id")
	if err := s.webhooks.Delete(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "object": "webhook_endpoint", "deleted": true})
}

func (s *Server) rotateWebhookSecret(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.webhooks.RotateSecret(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listWebhookDeliveries(c *gin.Context) {
	limit, before, err := listPage(c, "status")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := webhooks.DeliveryListParams{Limit: limit, BeforeSeq: before}
	if st := c.Query("status"); st != "" {
		p.Status = &st
	}
	items, next, err := s.webhooks.ListDeliveries(c.Request.Context(), c.Param("id"), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) retryWebhookDelivery(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.webhooks.RetryDelivery(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, out)
}

// listEvents lists the outbox's public events, newest first, by type, object or customer.
func (s *Server) listEvents(c *gin.Context) {
	limit, before, err := listPage(c, "type", "object_id", "customer_id")
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := outbox.List(c.Request.Context(), s.pool, outbox.ListParams{Limit: limit, BeforeSeq: before,
		Type: queryOpt(c, "type"), ObjectID: queryOpt(c, "object_id"), CustomerID: queryOpt(c, "customer_id")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}
