package api

import (
	"testing"
	"time"
)

// portalSession mints a portal session for the customer with the backend key.
func (h *harness) portalSession(customerID string) map[string]any {
	h.t.Helper()
	r := h.do("POST", "/v1/customers/"+customerID+"/portal-sessions", backendKey, nil)
	mustStatus(h.t, r, 201)
	return r.JSON(h.t)
}

// TestPortalSessionsAuth: backend keys mint and revoke sessions; a token works on the
// portal routes only, until it is revoked; tampered tokens and API keys are refused there.
func TestPortalSessionsAuth(t *testing.T) {
	h := newWalletHarness(t)
	ada := h.customer("EUR")
	s := h.portalSession(ada)
	token := s["token"].(string)
	exp, err := time.Parse(time.RFC3339, s["expires_at"].(string))
	if err != nil || s["customer_id"] != ada || s["url"] == nil || time.Until(exp) > time.Hour || time.Until(exp) < 59*time.Minute {
		t.Fatalf("session %v", s)
	}
	mustStatus(t, h.do("POST", "/v1/customers/"+ada+"/portal-sessions", supportKey, nil), 403)
	mustStatus(t, h.do("POST", "/v1/customers/cus_nope/portal-sessions", backendKey, nil), 404)
	mustStatus(t, h.do("POST", "/v1/customers/"+ada+"/portal-sessions", backendKey, `{"customer_id":"x"}`), 400)

	who := h.do("GET", "/v1/portal/session", token, nil)
	mustStatus(t, who, 200)
	if who.JSON(t)["customer_id"] != ada {
		t.Fatalf("portal session %s", who.Body)
	}
	// A portal token is not an API key, and an API key is not a portal token.
	for _, path := range []string{"/v1/customers", "/v1/customers/" + ada, "/v1/receipts", "/v1/invoices"} {
		if r := h.do("GET", path, token, nil); r.Status != 401 {
			t.Fatalf("portal token on %s: %d %s", path, r.Status, r.Body)
		}
	}
	mustStatus(t, h.do("POST", "/v1/customers/"+ada+"/portal-sessions", token, nil), 401)
	for _, k := range []string{backendKey, supportKey, "", token + "x", token[:len(token)-2]} {
		r := h.do("GET", "/v1/portal/session", k, nil)
		mustStatus(t, r, 401)
	}

	// Revocation: support may not, backend may; the token stops at once.
	mustStatus(t, h.do("DELETE", "/v1/portal-sessions/"+s["id"].(string), supportKey, nil), 403)
	rv := h.do("DELETE", "/v1/portal-sessions/"+s["id"].(string), backendKey, nil)
	mustStatus(t, rv, 200)
	if rv.JSON(t)["revoked_at"] == nil {
		t.Fatalf("revoke %s", rv.Body)
	}
	r := h.do("GET", "/v1/portal/session", token, nil)
	mustStatus(t, r, 401)
	if r.ErrorCode(t) != "portal_token_revoked" {
		t.Fatalf("revoked token %s", r.Body)
	}
	mustStatus(t, h.do("DELETE", "/v1/portal-sessions/pts_nope", backendKey, nil), 404)
}
