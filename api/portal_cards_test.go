package api

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// authFailed is true once the invoice's card charge failed with authentication_required
// and nothing is in flight.
func authFailed(inv map[string]any) bool {
	found := false
	for _, t := range txns(inv) {
		if t["status"] == "pending" {
			return false
		}
		if t["status"] == "failed" && t["error_type"] == "authentication_required" {
			found = true
		}
	}
	return found
}

var (
	setupIDField = regexp.MustCompile(`name="setup_id" value="([^"]+)"`)
	secretField  = regexp.MustCompile(`name="client_secret" value="([^"]+)"`)
	simPayAction = regexp.MustCompile(`action="/portal/sim/payments/([^"]+)"`)
)

func field(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, body)
	}
	return m[1]
}

// TestPortalReplaceCardSimulated: the replace-card form is the provider's (here the
// simulated one: a SetupIntent and a test-card picker, no card number field); payorch
// verifies the setup with the provider before it saves the card as the default, and the
// invoice that failed on the old card is charged on the new one.
func TestPortalReplaceCardSimulated(t *testing.T) {
	h := newPortalHarness(t)
	cust, _, token := h.portalCustomer("pm_card_chargeDeclinedExpiredCard", true)
	inv := h.invoice(cust, nil)
	h.waitInvoice(inv["id"].(string), "the expired card's decline", func(m map[string]any) bool {
		for _, t := range txns(m) {
			if t["status"] == "failed" {
				return true
			}
		}
		return false
	})
	p := newPageClient(t, h)
	p.get("/portal?token=" + url.QueryEscape(token))
	_, body := p.get("/portal")
	csrf := field(t, csrfField, body)
	if !strings.Contains(body, `action="/portal/card-setup"`) || strings.Contains(body, `name="provider_id"`) || strings.Contains(body, "<script") {
		t.Fatalf("page without a step:\n%s", body)
	}
	if st, _ := p.get("/portal/assets/portal-stripe.js"); st != 404 {
		t.Fatalf("the Stripe script without Stripe: %d", st)
	}
	resp, err := p.c.Get(p.ts.URL + "/portal")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || strings.Contains(csp, "stripe") {
		t.Fatalf("CSP without Stripe: %q", csp)
	}
	st, body := p.post("/portal/card-setup", url.Values{"csrf": {csrf}})
	if st != 200 || !strings.Contains(body, `id="sim-setup"`) || !strings.Contains(body, `value="pm_card_mastercard"`) || strings.Contains(body, "js.stripe.com") {
		t.Fatalf("setup step %d:\n%s", st, body)
	}
	setupID, secret := field(t, setupIDField, body), field(t, secretField, body)

	// The page cannot claim a setup the provider has not completed.
	if st, body := p.post("/portal/card-setup/complete", url.Values{"csrf": {csrf}, "setup_id": {setupID}, "payment_method": {"pm_card_visa"}}); st != 422 ||
		!strings.Contains(body, "did not confirm it") {
		t.Fatalf("complete an unfinished setup: %d\n%s", st, body)
	}
	if st, _ := p.post("/portal/sim/card-setup", url.Values{"csrf": {csrf}, "setup_id": {setupID}, "client_secret": {"nope"}, "payment_method": {"pm_card_visa"}}); st != 400 {
		t.Fatalf("wrong client secret: %d", st)
	}
	if st, _ := p.post("/portal/sim/card-setup", url.Values{"csrf": {csrf}, "setup_id": {setupID}, "client_secret": {secret}, "payment_method": {"pm_card_mastercard"}}); st != 303 {
		t.Fatalf("simulated form: %d, want 303", st)
	}
	if st, body = p.get("/portal"); st != 200 || !strings.Contains(body, "Your new card is saved") || !strings.Contains(body, "ending in 4444") {
		t.Fatalf("after the setup %d:\n%s", st, body)
	}
	pm := h.do("GET", "/v1/portal/payment-method", token, nil).JSON(t)
	if pm["provider_id"] != "pm_card_mastercard" || pm["last4"] != "4444" || pm["default"] != true {
		t.Fatalf("default card %v", pm)
	}
	h.waitInvoice(inv["id"].(string), "paid with the new card", func(m map[string]any) bool { return m["status"] == "paid" })

	// The JSON steps: another customer cannot complete this customer's setup.
	other, _, otherToken := h.portalCustomer("pm_card_visa", true)
	_ = other
	r := h.do("POST", "/v1/portal/card-setups", token, nil)
	mustStatus(t, r, 201)
	s := r.JSON(t)
	if s["provider"] != "simulated" || s["client_secret"] == "" {
		t.Fatalf("card setup %s", r.Body)
	}
	sim := h.srv.simulator()
	if err := sim.SubmitSimulatedSetup(context.Background(), s["id"].(string), s["client_secret"].(string), "pm_card_amex"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, h.do("POST", "/v1/portal/card-setups/"+s["id"].(string)+"/complete", otherToken, map[string]any{"payment_method": "pm_card_amex"}), 400)
	mustStatus(t, h.do("POST", "/v1/portal/card-setups/"+s["id"].(string)+"/complete", token, map[string]any{"payment_method": "pm_card_visa"}), 400)
	r = h.do("POST", "/v1/portal/card-setups/"+s["id"].(string)+"/complete", token, map[string]any{"payment_method": "pm_card_amex"})
	mustStatus(t, r, 200)
	if got := r.JSON(t); got["provider_id"] != "pm_card_amex" || got["last4"] != "8431" || got["default"] != true {
		t.Fatalf("completed %s", r.Body)
	}
}

// TestPortalAuthenticatePaymentSimulated: an invoice whose charge failed with
// authentication_required shows "Authenticate payment"; a declined challenge charges
// nothing; an approved one is verified with the provider and applied through the
// workflow's reconciliation (card_on_session, reference the payment id) once, however often
// the page reports it; the invoice is then paid.
func TestPortalAuthenticatePaymentSimulated(t *testing.T) {
	h := newPortalHarness(t)
	cust, _, token := h.portalCustomer("pm_card_authenticationRequired", true)
	_, _, otherToken := h.portalCustomer("pm_card_visa", true)
	inv := h.invoice(cust, nil)
	id := inv["id"].(string)
	h.waitInvoice(id, "the authentication_required decline", authFailed)

	mustStatus(t, h.do("POST", "/v1/portal/invoices/"+id+"/authentications", otherToken, nil), 404)
	p := newPageClient(t, h)
	p.get("/portal?token=" + url.QueryEscape(token))
	_, body := p.get("/portal")
	csrf := field(t, csrfField, body)
	if !strings.Contains(body, `action="/portal/invoices/`+id+`/authenticate"`) || !strings.Contains(body, "Authenticate payment") {
		t.Fatalf("no authenticate button:\n%s", body)
	}
	st, body := p.post("/portal/invoices/"+id+"/authenticate", url.Values{"csrf": {csrf}})
	if st != 200 || !strings.Contains(body, `id="sim-challenge"`) || !strings.Contains(body, `id="auth-amount">30.00 EUR`) {
		t.Fatalf("challenge %d:\n%s", st, body)
	}
	payID, secret := field(t, simPayAction, body), field(t, secretField, body)

	// The page cannot claim a payment the customer has not approved.
	if st, body := p.post("/portal/invoices/"+id+"/authenticate/complete", url.Values{"csrf": {csrf}, "payment_id": {payID}}); st != 422 {
		t.Fatalf("complete before the challenge: %d\n%s", st, body)
	}
	if st, _ := p.post("/portal/sim/payments/"+payID, url.Values{"csrf": {csrf}, "invoice_id": {id}, "client_secret": {secret}, "decision": {"decline"}}); st != 303 {
		t.Fatalf("decline: %d", st)
	}
	if _, body = p.get("/portal"); !strings.Contains(body, "nothing was charged") || !strings.Contains(body, "Authenticate payment") {
		t.Fatalf("after the decline:\n%s", body)
	}
	if got := h.do("GET", "/v1/invoices/"+id, supportKey, nil).JSON(t); got["status"] == "paid" || got["amount_due"] != "30.00" {
		t.Fatalf("declined, yet %v", got)
	}

	// A new try is a new payment; approved, the invoice is paid.
	st, body = p.post("/portal/invoices/"+id+"/authenticate", url.Values{"csrf": {csrf}})
	payID2, secret2 := field(t, simPayAction, body), field(t, secretField, body)
	if st != 200 || payID2 == payID {
		t.Fatalf("second try %d: payment %s (first %s)", st, payID2, payID)
	}
	if st, _ := p.post("/portal/sim/payments/"+payID2, url.Values{"csrf": {csrf}, "invoice_id": {id}, "client_secret": {secret2}, "decision": {"approve"}}); st != 303 {
		t.Fatalf("approve: %d", st)
	}
	if _, body = p.get("/portal"); !strings.Contains(body, "your payment is confirmed and the invoice is paid") || strings.Contains(body, "Authenticate payment") {
		t.Fatalf("after the approval:\n%s", body)
	}
	// Reported again (a reload, the JSON route): counted once.
	if st, _ := p.post("/portal/invoices/"+id+"/authenticate/complete", url.Values{"csrf": {csrf}, "payment_id": {payID2}}); st != 303 {
		t.Fatalf("reported again: %d", st)
	}
	mustStatus(t, h.do("POST", "/v1/portal/invoices/"+id+"/authentications/"+payID2+"/complete", token, nil), 200)
	mustStatus(t, h.do("POST", "/v1/portal/invoices/"+id+"/authentications/"+payID2+"/complete", otherToken, nil), 404)
	got := h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	applied := 0
	for _, tx := range txns(got) {
		if tx["method"] == "card_on_session" {
			applied++
			if tx["reference"] != payID2 || tx["amount"] != "30.00" || tx["status"] != "settled" {
				t.Fatalf("applied payment %v", tx)
			}
		}
	}
	if applied != 1 || got["amount_paid"] != "30.00" || got["amount_due"] != "0.00" {
		t.Fatalf("invoice after the authentication: %d applied, %v", applied, got)
	}
	mustStatus(t, h.do("POST", "/v1/portal/invoices/"+id+"/authentications", token, nil), 409)
}
