package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/portal"
)

const ctxPortal = "payorch.portal_principal"

// portalRoutes serves portal sessions (backend keys mint and revoke them) and the JSON
// routes a customer reaches with a portal token.
func (s *Server) portalRoutes() {
	s.post("/v1/customers/:id/portal-sessions", backendOnly, s.createPortalSession)
	s.engine.DELETE("/v1/portal-sessions/:id", s.authorize(backendOnly...), s.revokePortalSession)
	s.customerPortalRoutes()
	s.portalPageRoutes()
}

func (s *Server) createPortalSession(c *gin.Context) {
	if err := decodeOptional(c, &struct{}{}); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.portal.Create(c.Request.Context(), c.Param("id"), portal.PurposeAPI)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, out)
}

func (s *Server) revokePortalSession(c *gin.Context) {
	out, err := s.portal.Revoke(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// portalAuth admits a request that carries a valid portal token (Authorization: Bearer
// <token>) and remembers whose it is; API keys are not portal tokens (401).
func (s *Server) portalAuth(c *gin.Context) {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		s.fail(c, apperr.New(apperr.Unauthenticated, "missing_portal_token", "send your portal token as Authorization: Bearer <token>"))
		return
	}
	p, err := s.portal.Authenticate(c.Request.Context(), strings.TrimSpace(token))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(ctxPortal, p)
	c.Header("Cache-Control", "no-store")
	c.Next()
}

// portalCustomer is the customer the request's portal token speaks for.
func portalCustomer(c *gin.Context) string {
	v, _ := c.Get(ctxPortal)
	p, _ := v.(portal.Principal)
	return p.CustomerID
}

// portalSession says whose the token is and until when it works.
func (s *Server) portalSession(c *gin.Context) {
	v, _ := c.Get(ctxPortal)
	p, _ := v.(portal.Principal)
	c.JSON(http.StatusOK, gin.H{"object": "portal_session", "id": p.SessionID, "customer_id": p.CustomerID, "expires_at": p.ExpiresAt})
}
