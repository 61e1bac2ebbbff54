package api

import (
	"strings"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/config"
)

const (
	ctxRequestID = "payorch.request_id"
	ctxKey       = "payorch.api_key"
	// ctxTransient marks an answer that holds only for now (see transientCodes): it is
	// not stored as the Idempotency-Key's final answer.
	ctxTransient = "payorch.transient"
	// ctxFreshUpdate marks a failure that a workflow recorded as its Update's outcome: a
	// rerun of the request must send a fresh Update (see idempotency.Unlock).
	ctxFreshUpdate = "payorch.fresh_update"
)

// authorize checks the bearer key and that its role is one of roles.
func (s *Server) authorize(roles ...config.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			s.fail(c, apperr.New(apperr.Unauthenticated, "missing_api_key", "send your API key as Authorization: Bearer <key>"))
			return
		}
		key, ok := config.Authenticate(s.keys, token)
		if !ok {
			s.fail(c, apperr.New(apperr.Unauthenticated, "invalid_api_key", "the API key is not valid"))
			return
		}
		allowed := false
		for _, r := range roles {
			allowed = allowed || key.Role == r
		}
		if !allowed {
			s.fail(c, apperr.New(apperr.Forbidden, "role_not_allowed", "a "+string(key.Role)+" key may not do this"))
			return
		}
		c.Set(ctxKey, key)
		c.Next()
	}
}

// bearerToken returns the credentials of an Authorization header of the Bearer scheme,
// whose name is case-insensitive (RFC 7235 §2.1: "bearer" and "BEARER" are Bearer too).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// principal returns the authenticated key of the request.
func principal(c *gin.Context) config.APIKey {
	k, _ := c.Get(ctxKey)
	key, _ := k.(config.APIKey)
	return key
}
