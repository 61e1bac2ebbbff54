package api

// customerPortalRoutes are the JSON routes under /v1/portal/, for the customer of the
// request's portal token only.
func (s *Server) customerPortalRoutes() {
	g := s.engine.Group("/v1/portal", s.portalAuth)
	g.GET("/session", s.portalSession)
}
