package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/store"
)

const (
	// idempotencyRetention is how long a key's first response is replayed.
	idempotencyRetention = 24 * time.Hour
	// idempotencyLockTimeout is after how long a request that never answered (its process
	// died) no longer blocks a retry with the same key and body.
	idempotencyLockTimeout = time.Minute
)

// captureWriter keeps a copy of the response body for the idempotency store.
type captureWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}

// idempotent implements Idempotency-Key on POST: the same key with the same body returns
// the stored first response; with another body it is a 409. Keys are scoped to the API
// key that sent them. Responses with a 5xx status are not stored, so the request can be
// retried.
func (s *Server) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	if len(key) > 255 {
		s.fail(c, apperr.InvalidParam("Idempotency-Key", "idempotency_key_invalid", "Idempotency-Key is at most 255 characters"))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeError(err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	h.Write([]byte(c.Request.Method + " " + c.Request.URL.Path + "\n"))
	h.Write(body)
	hash := h.Sum(nil)
	scope := principal(c).Fingerprint()
	ctx := c.Request.Context()
	q := store.New(s.pool)

	_, err = q.ClaimIdempotencyKey(ctx, store.ClaimIdempotencyKeyParams{
		Scope: scope, Key: key, Method: c.Request.Method, Path: c.Request.URL.Path, RequestHash: hash,
		RetentionSeconds: idempotencyRetention.Seconds(), LockTimeoutSeconds: idempotencyLockTimeout.Seconds(),
	})
	if store.IsNoRows(err) {
		prev, err := q.GetIdempotencyKey(ctx, store.GetIdempotencyKeyParams{Scope: scope, Key: key})
		if err != nil {
			s.fail(c, err)
			return
		}
		switch {
		case !bytes.Equal(prev.RequestHash, hash):
			s.fail(c, apperr.New(apperr.Conflict, "idempotency_key_reused",
				"this Idempotency-Key was already used with a different request; use a new key"))
		case prev.StatusCode == nil:
			s.fail(c, apperr.New(apperr.Conflict, "idempotency_key_in_use",
				"a request with this Idempotency-Key is still being processed; retry shortly"))
		default:
			c.Header("Idempotent-Replayed", "true")
			c.Data(int(*prev.StatusCode), "application/json; charset=utf-8", prev.ResponseBody)
			c.Abort()
		}
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}

	w := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()

	// Record the outcome even if the client went away.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	status := w.Status()
	if status >= http.StatusInternalServerError {
		err = q.ReleaseIdempotencyKey(bg, store.ReleaseIdempotencyKeyParams{Scope: scope, Key: key})
	} else {
		st := int32(status)
		err = q.CompleteIdempotencyKey(bg, store.CompleteIdempotencyKeyParams{Scope: scope, Key: key, StatusCode: &st, ResponseBody: w.body.Bytes()})
	}
	if err != nil {
		s.log.ErrorContext(ctx, "idempotency key not recorded", "error", err, "key", key)
	}
}
