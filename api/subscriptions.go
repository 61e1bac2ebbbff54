package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/subscriptions"
)

func (s *Server) subscriptionRoutes() {
	s.post("/v1/subscriptions", backendOnly, s.createSubscription)
	s.get("/v1/subscriptions", anyRole, s.listSubscriptions)
	s.get("/v1/subscriptions/:id", anyRole, s.getSubscription)
	s.post("/v1/subscriptions/:id/usage", backendOnly, s.recordUsage)
	s.get("/v1/subscriptions/:id/usage", anyRole, s.listUsage)
	s.post("/v1/subscriptions/:id/reactivate", anyRole, s.reactivateSubscription)
	s.post("/v1/subscriptions/:id/cancel", anyRole, s.cancelSubscription)
}

// reactivateSubscription puts an errored subscription back in service (support or backend).
// reactivateSubscription reactivates an errored subscription and tells its open
// invoices, held while it was errored, that they may be collected again; both run to the
// end if the client hangs up. If the invoices cannot be told now, the answer is 202 with
// the subscription: the worker's sweeper tells them.
func (s *Server) reactivateSubscription(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	ctx, cancel := detached(c)
	defer cancel()
	out, err := s.subs.Reactivate(ctx, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.collect.SubscriptionReactivated(ctx, out.ID); err != nil {
		s.log.WarnContext(ctx, "subscription reactivated, its held invoices not told yet (the sweeper will)", "subscription_id", out.ID, "error", err)
		c.Header("Retry-After", "5")
		c.JSON(http.StatusAccepted, out)
		return
	}
	c.JSON(http.StatusOK, out)
}

// cancelSubscription ends a subscription (support or backend).
func (s *Server) cancelSubscription(c *gin.Context) {
	s.subscriptionTransition(c, s.subs.Cancel)
}

func (s *Server) subscriptionTransition(c *gin.Context, do func(context.Context, string) (subscriptions.Subscription, error)) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := do(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) createSubscription(c *gin.Context) {
	var in subscriptions.CreateInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.subs.Create(c.Request.Context(), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

func (s *Server) getSubscription(c *gin.Context) {
	out, err := s.subs.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) listSubscriptions(c *gin.Context) {
	limit, before, err := listPage(c, "customer_id", "external_id", "status")
	if err != nil {
		s.fail(c, err)
		return
	}
	p := subscriptions.ListParams{Limit: limit, BeforeSeq: before, CustomerID: queryOpt(c, "customer_id"),
		ExternalID: queryOpt(c, "external_id"), Status: queryOpt(c, "status")}
	items, next, err := s.subs.List(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}

func (s *Server) recordUsage(c *gin.Context) {
	var in subscriptions.UsageInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.subs.RecordUsage(c.Request.Context(), c.Param("id"), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// listUsage lists a subscription's usage records, newest first.
func (s *Server) listUsage(c *gin.Context) {
	limit, before, err := listPage(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.subs.ListUsage(c.Request.Context(), c.Param("id"), subscriptions.UsageListParams{Limit: limit, BeforeSeq: before})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, list(items, next))
}
