package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"payorch/settings"
)

func (s *Server) settingsRoutes() {
	s.get("/v1/settings/dunning", anyRole, s.getDunning)
	s.put("/v1/settings/dunning", backendOnly, s.putDunning)
}

// getDunning shows the dunning policy in force and where it comes from.
func (s *Server) getDunning(c *gin.Context) {
	out, err := s.settings.Dunning(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// putDunning replaces the dunning policy (backend key). The answer says that it applies
// to workflows started from now on: running ones keep the copy they started with.
func (s *Server) putDunning(c *gin.Context) {
	var in settings.DunningInput
	if err := decode(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.settings.SetDunning(c.Request.Context(), in, principal(c).Fingerprint())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
