// Package portal is the customer portal's domain: signed, expiring, revocable session
// tokens that see one customer only, and what that customer may do with one (see
// portal.go). The HTTP routes are in api/portal.go.
package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/ids"
	"payorch/store"
)

// Session purposes.
const (
	// PurposeAPI is a session the backend minted (POST /v1/customers/{id}/portal-sessions).
	PurposeAPI = "api"
	// PurposeEmail is a session minted for the portal link of a customer email.
	PurposeEmail = "email"
)

// sessionPrefix is the id prefix of portal sessions.
const sessionPrefix = "pts"

// Session is a portal session as the API returns it. Token and URL are only present when
// the session is created.
type Session struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	CustomerID string     `json:"customer_id"`
	Purpose    string     `json:"purpose"`
	Token      string     `json:"token,omitempty"`
	URL        string     `json:"url,omitempty"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Principal is who a valid portal token speaks for.
type Principal struct {
	SessionID  string
	CustomerID string
	ExpiresAt  time.Time
}

// Sessions mints and checks portal tokens. A token is
// "<session id>.<customer id>.<expiry unix>.<HMAC-SHA256>", signed with Secret; the
// session row makes it revocable.
type Sessions struct {
	pool   *pgxpool.Pool
	secret []byte
	// BaseURL is the portal page (PAYORCH_PORTAL_URL); a session's URL is BaseURL?token=….
	BaseURL string
	// TTL and EmailTTL are the lifetimes of API-minted and email sessions.
	TTL, EmailTTL time.Duration
	// Now is the clock (time.Now in production).
	Now func() time.Time
}

// NewSessions returns Sessions signing with secret (at least 32 bytes).
func NewSessions(pool *pgxpool.Pool, secret []byte, baseURL string, ttl, emailTTL time.Duration) *Sessions {
	if ttl <= 0 {
		ttl = time.Hour
	}
	if emailTTL <= 0 {
		emailTTL = 7 * 24 * time.Hour
	}
	return &Sessions{pool: pool, secret: secret, BaseURL: strings.TrimRight(baseURL, "/"), TTL: ttl, EmailTTL: emailTTL, Now: time.Now}
}

// Create mints a session for a customer (404 for an unknown customer) with the purpose's
// lifetime, and returns it with its token and URL.
func (s *Sessions) Create(ctx context.Context, customerID, purpose string) (Session, error) {
	ttl := s.TTL
	if purpose == PurposeEmail {
		ttl = s.EmailTTL
	} else if purpose != PurposeAPI {
		return Session{}, fmt.Errorf("portal session purpose %q", purpose)
	}
	q := store.New(s.pool)
	if _, err := q.GetCustomer(ctx, customerID); store.IsNoRows(err) {
		return Session{}, apperr.NotFoundf("customer", customerID)
	} else if err != nil {
		return Session{}, fmt.Errorf("get customer: %w", err)
	}
	now := s.Now().UTC().Truncate(time.Second)
	row, err := q.CreatePortalSession(ctx, store.CreatePortalSessionParams{
		ID: ids.New(sessionPrefix), CustomerID: customerID, Purpose: purpose, ExpiresAt: now.Add(ttl), CreatedAt: now,
	})
	if err != nil {
		return Session{}, fmt.Errorf("create portal session: %w", err)
	}
	out := view(row)
	out.Token = s.sign(row.ID, row.CustomerID, row.ExpiresAt)
	out.URL = s.URL(out.Token)
	return out, nil
}

// URL is the portal page that opens with token.
func (s *Sessions) URL(token string) string {
	return s.BaseURL + "?token=" + url.QueryEscape(token)
}

// Link mints an email session for the customer and returns its portal URL.
func (s *Sessions) Link(ctx context.Context, customerID string) (string, error) {
	sess, err := s.Create(ctx, customerID, PurposeEmail)
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}

// Revoke ends a session at once (404 if there is none); revoking twice changes nothing.
func (s *Sessions) Revoke(ctx context.Context, id string) (Session, error) {
	row, err := store.New(s.pool).RevokePortalSession(ctx, store.RevokePortalSessionParams{ID: id, RevokedAt: s.Now().UTC()})
	if store.IsNoRows(err) {
		return Session{}, apperr.NotFoundf("portal session", id)
	}
	if err != nil {
		return Session{}, fmt.Errorf("revoke portal session: %w", err)
	}
	return view(row), nil
}

func unauthenticated(code, msg string) error {
	return apperr.New(apperr.Unauthenticated, code, msg)
}

// Authenticate checks a portal token: its signature, its expiry and that its session
// exists and is not revoked. Every failure is a 401 apperr (portal_token_invalid,
// portal_token_expired, portal_token_revoked).
func (s *Sessions) Authenticate(ctx context.Context, token string) (Principal, error) {
	invalid := unauthenticated("portal_token_invalid", "the portal link is not valid; ask for a new one")
	parts := strings.Split(token, ".")
	if len(parts) != 4 || !strings.HasPrefix(parts[0], sessionPrefix+"_") {
		return Principal{}, invalid
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Principal{}, invalid
	}
	expires := time.Unix(exp, 0).UTC()
	if !hmac.Equal([]byte(s.sign(parts[0], parts[1], expires)), []byte(token)) {
		return Principal{}, invalid
	}
	now := s.Now()
	if !now.Before(expires) {
		return Principal{}, unauthenticated("portal_token_expired", "the portal link has expired; ask for a new one")
	}
	row, err := store.New(s.pool).GetPortalSession(ctx, parts[0])
	if store.IsNoRows(err) {
		return Principal{}, invalid
	}
	if err != nil {
		return Principal{}, fmt.Errorf("get portal session: %w", err)
	}
	switch {
	case row.CustomerID != parts[1]:
		return Principal{}, invalid
	case row.RevokedAt != nil:
		return Principal{}, unauthenticated("portal_token_revoked", "the portal link was revoked; ask for a new one")
	case !now.Before(row.ExpiresAt):
		return Principal{}, unauthenticated("portal_token_expired", "the portal link has expired; ask for a new one")
	}
	return Principal{SessionID: row.ID, CustomerID: row.CustomerID, ExpiresAt: row.ExpiresAt}, nil
}

// sign returns the token of a session: its fields and their MAC.
func (s *Sessions) sign(sessionID, customerID string, expires time.Time) string {
	payload := sessionID + "." + customerID + "." + strconv.FormatInt(expires.Unix(), 10)
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("payorch-portal-v1\n" + payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func view(r store.PortalSession) Session {
	out := Session{ID: r.ID, Object: "portal_session", CustomerID: r.CustomerID, Purpose: r.Purpose,
		ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC()}
	if r.RevokedAt != nil {
		t := r.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

// RandomSecret is a fresh 32-byte signing key, for a process that was given none (its
// tokens die with it).
func RandomSecret() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("portal: no randomness: " + err.Error())
	}
	return b
}
