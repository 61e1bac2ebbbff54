package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"payorch/apperr"
	"payorch/idempotency"
)

// inFlightWait is how long a duplicate of a request still running waits for the first
// run's answer before it is told the work is in flight (202 with the resource, or 409).
const inFlightWait = 5 * time.Second

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

// idempotent implements Idempotency-Key on POST (the rules are the idempotency package's):
// the same key with the same JSON body returns the first final answer; with another body
// it is a 409. A duplicate that arrives while the first run is under way waits a little
// for its answer, then gets 202 with the resource the first run created (or 409 if it has
// created nothing yet). A run that ends without a final answer — a 5xx, or a 202 while
// work goes on — leaves the key bound to what it did, so the retry runs the request again
// and the domain code finds the resource instead of making a second one. Keys are scoped
// to the API key that sent them.
func (s *Server) idempotent(c *gin.Context) {
	raw := c.GetHeader("Idempotency-Key")
	if raw == "" {
		c.Next()
		return
	}
	if err := validKey(raw); err != nil {
		s.fail(c, err)
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		s.fail(c, decodeError(err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	k := idempotency.Key{Scope: principal(c).Fingerprint(), Key: raw,
		RequestHash: idempotency.RequestHash(c.Request.Method, c.Request.URL.Path, body)}
	ctx := c.Request.Context()

	deadline := time.Now().Add(inFlightWait)
	for {
		// The claim is made whatever the client does: a claim committed while the client
		// hung up, but answered as an error, would leave the key in use for LockTimeout.
		claimCtx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		claimed, prior, err := idempotency.Claim(claimCtx, s.pool, &k, c.Request.Method, c.Request.URL.Path)
		cancelClaim()
		if err != nil {
			s.fail(c, err)
			return
		}
		if claimed {
			break
		}
		switch {
		case !prior.SameRequest:
			s.fail(c, apperr.New(apperr.Conflict, "idempotency_key_reused",
				"this Idempotency-Key was already used with a different request; use a new key"))
			return
		case prior.Done:
			c.Header("Idempotent-Replayed", "true")
			c.Data(prior.Status, "application/json; charset=utf-8", prior.Body)
			c.Abort()
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Header("Retry-After", "1")
			if prior.Provisional != nil {
				c.Header("Idempotent-Replayed", "true")
				c.Data(http.StatusAccepted, "application/json; charset=utf-8", prior.Provisional)
				c.Abort()
				return
			}
			s.fail(c, apperr.New(apperr.Conflict, "idempotency_key_in_use",
				"a request with this Idempotency-Key is still being processed; retry shortly"))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}

	c.Request = c.Request.WithContext(idempotency.WithKey(ctx, k))
	w := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()

	// Record the outcome even if the client went away.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch status := w.Status(); {
	case status >= http.StatusInternalServerError:
		// Reruns attach to the Updates this run sent, unless a workflow recorded the
		// failure as an Update's outcome (then they send fresh ones).
		err = idempotency.Unlock(bg, s.pool, k, c.GetBool(ctxFreshUpdate), nil)
	case status == http.StatusAccepted:
		err = idempotency.Unlock(bg, s.pool, k, false, w.body.Bytes())
	case c.GetBool(ctxTransient):
		// A refusal that holds only for now (a charge in flight, refused by a validator,
		// which records nothing): the same request may succeed later, so it is not the
		// key's final answer.
		err = idempotency.Unlock(bg, s.pool, k, false, nil)
	default:
		err = idempotency.Complete(bg, s.pool, k, status, w.body.Bytes())
	}
	if err != nil {
		s.log.ErrorContext(ctx, "idempotency key not recorded", "error", err, "key", raw)
	}
}

// validKey checks an Idempotency-Key: 1 to 255 characters of printable UTF-8.
func validKey(key string) error {
	bad := apperr.InvalidParam("Idempotency-Key", "idempotency_key_invalid",
		"Idempotency-Key must be 1 to 255 printable characters (UTF-8, no control characters)")
	if len(key) > 255 || !utf8.ValidString(key) {
		return bad
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return bad
		}
	}
	return nil
}
