package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpenAPIDocument is the OpenAPI 3 description of the API, kept in api/openapi.json and
// checked against the router by a test.
//
//go:embed openapi.json
var OpenAPIDocument []byte

func (s *Server) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", OpenAPIDocument)
}
