package portal_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"payorch/apperr"
	"payorch/ledger/ledgertest"
	"payorch/portal"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func code(err error) string {
	if e, ok := apperr.As(err); ok && e.Kind == apperr.Unauthenticated {
		return e.Code
	}
	if err == nil {
		return "<nil>"
	}
	return "not a 401: " + err.Error()
}

// TestSessionTokens: a token opens its customer's portal until it expires or is revoked;
// any change to it, or another key, makes it invalid.
func TestSessionTokens(t *testing.T) {
	ctx := context.Background()
	pool, _ := env.Postgres.NewPool(t)
	ada, bob := ledgertest.Customer(t, pool, "EUR"), ledgertest.Customer(t, pool, "EUR")
	now := time.Now()
	s := portal.NewSessions(pool, secret, "https://portal.acme.test/portal", time.Hour, 48*time.Hour)
	s.Now = func() time.Time { return now }

	sess, err := s.Create(ctx, ada, portal.PurposeAPI)
	if err != nil {
		t.Fatal(err)
	}
	if sess.CustomerID != ada || !sess.ExpiresAt.Equal(now.UTC().Truncate(time.Second).Add(time.Hour)) || sess.Token == "" {
		t.Fatalf("session %+v", sess)
	}
	if u, err := url.Parse(sess.URL); err != nil || u.Query().Get("token") != sess.Token || !strings.HasPrefix(sess.URL, "https://portal.acme.test/portal?") {
		t.Fatalf("url %q", sess.URL)
	}
	p, err := s.Authenticate(ctx, sess.Token)
	if err != nil || p.CustomerID != ada || p.SessionID != sess.ID {
		t.Fatalf("principal %+v %v", p, err)
	}

	// Tampering: another customer, a later expiry, a changed signature, another key.
	parts := strings.Split(sess.Token, ".")
	later := now.Add(240 * time.Hour).Unix()
	for name, tok := range map[string]string{
		"customer":  parts[0] + "." + bob + "." + parts[2] + "." + parts[3],
		"expiry":    parts[0] + "." + parts[1] + "." + strconv.FormatInt(later, 10) + "." + parts[3],
		"signature": parts[0] + "." + parts[1] + "." + parts[2] + "." + flip(parts[3]),
		"truncated": strings.Join(parts[:3], "."),
		"api key":   "dev_backend_key",
	} {
		if got := code(mustFail(s.Authenticate(ctx, tok))); got != "portal_token_invalid" {
			t.Errorf("%s: %s, want portal_token_invalid", name, got)
		}
	}
	other := portal.NewSessions(pool, []byte("another-secret-another-secret-xx"), "https://x", time.Hour, time.Hour)
	if got := code(mustFail(other.Authenticate(ctx, sess.Token))); got != "portal_token_invalid" {
		t.Errorf("other key: %s", got)
	}

	// Expiry: one second past it, the token is refused.
	now = sess.ExpiresAt.Add(time.Second)
	if got := code(mustFail(s.Authenticate(ctx, sess.Token))); got != "portal_token_expired" {
		t.Errorf("expired: %s", got)
	}
	now = time.Now()

	// Revocation: at once, and twice is harmless; other sessions keep working.
	email, err := s.Create(ctx, ada, portal.PurposeEmail)
	if err != nil || !email.ExpiresAt.Equal(now.UTC().Truncate(time.Second).Add(48*time.Hour)) {
		t.Fatalf("email session %+v %v", email, err)
	}
	for range 2 {
		if r, err := s.Revoke(ctx, sess.ID); err != nil || r.RevokedAt == nil {
			t.Fatalf("revoke %+v %v", r, err)
		}
	}
	if got := code(mustFail(s.Authenticate(ctx, sess.Token))); got != "portal_token_revoked" {
		t.Errorf("revoked: %s", got)
	}
	if p, err := s.Authenticate(ctx, email.Token); err != nil || p.CustomerID != ada {
		t.Fatalf("the other session stopped working: %v", err)
	}
	if _, err := s.Revoke(ctx, "pts_nope"); !isNotFound(err) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := s.Create(ctx, "cus_nope", portal.PurposeAPI); !isNotFound(err) {
		t.Fatalf("unknown customer: %v", err)
	}
}

func mustFail(_ portal.Principal, err error) error { return err }

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func isNotFound(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == apperr.NotFound
}
