package api

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"payorch/internal/testenv/poll"
	"payorch/payments"
)

// startStripeMock runs .bin/stripe-mock on loopback with the fixtures file (if any) and
// returns its base URL; it is stopped when the test ends.
func startStripeMock(t *testing.T, fixtures string) string {
	t.Helper()
	bin := filepath.Join(env.RepoRoot, ".bin", "stripe-mock")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("stripe-mock not found at %s: run `make tools`", bin)
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	httpAddr, httpsAddr := free(), free()
	args := []string{"-http-addr", httpAddr, "-https-addr", httpsAddr}
	if fixtures != "" {
		args = append(args, "-fixtures", fixtures)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + httpAddr
	poll.Until(t, 30*time.Second, "stripe-mock to answer on "+base, func() (bool, string) {
		r, err := http.Get(base + "/v1/setup_intents/seti_probe")
		if err != nil {
			return false, err.Error()
		}
		r.Body.Close()
		return true, ""
	})
	return base
}

// TestPortalCardStepsWithStripe: with Stripe configured (stripe-mock), the card form is
// Stripe's Payment Element on a SetupIntent (Stripe.js from js.stripe.com, allowed by the
// page's CSP, and only then); the card is saved once payorch has retrieved the setup
// (succeeded, this customer's Stripe customer, this payment method); an invoice waiting on
// authentication_required gets a PaymentIntent whose client secret goes to
// confirmCardPayment, and once Stripe says it succeeded (amount, currency, invoice) it is
// applied to the invoice, which is paid.
func TestPortalCardStepsWithStripe(t *testing.T) {
	h := newPortalHarness(t)
	// The worker's charges are simulated (the first one asks for authentication); the
	// portal's card steps go to Stripe (stripe-mock), for the Stripe customer cus_123.
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR", "provider_customer_id": "cus_123"})
	mustStatus(t, r, 201)
	cust := r.JSON(t)["id"].(string)
	h.method(cust, "pm_card_authenticationRequired")
	token := h.portalSession(cust)["token"].(string)
	inv := h.invoice(cust, nil)
	id := inv["id"].(string)
	h.waitInvoice(id, "the authentication_required decline", authFailed)

	fixtures := filepath.Join(t.TempDir(), "fixtures.json")
	fx := `{"resources":{` +
		`"setup_intent":{"id":"seti_fixture","object":"setup_intent","client_secret":"seti_fixture_secret_x","status":"succeeded","customer":"cus_123",` +
		`"usage":"off_session","payment_method":"pm_fixture","payment_method_types":["card"],"created":1234567890,"livemode":false,"metadata":{}},` +
		`"payment_method":{"id":"pm_fixture","object":"payment_method","type":"card","created":1234567890,"livemode":false,"metadata":{},` +
		`"billing_details":{"address":null,"email":null,"name":null,"phone":null},` +
		`"card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2031,"country":"US","funding":"credit","networks":null,"three_d_secure_usage":null,"wallet":null,"checks":null}},` +
		fmt.Sprintf(`"payment_intent":{"id":"pi_fixture","object":"payment_intent","client_secret":"pi_fixture_secret_x","amount":3000,"currency":"eur","status":"succeeded","customer":"cus_123",`+
			`"capture_method":"automatic","confirmation_method":"automatic","created":1234567890,"livemode":false,"metadata":{"invoice_id":%q,"amount":"30.00"},"payment_method_types":["card"]}}}`, id)
	if err := os.WriteFile(fixtures, []byte(fx), 0o600); err != nil {
		t.Fatal(err)
	}
	stripe, err := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_123", BaseURL: startStripeMock(t, fixtures)})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = New(Deps{Pool: h.pool, Temporal: h.srv.temporal, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: h.srv.taskQueue,
		RetrySchedule: h.srv.collect.RetrySchedule, Merchant: testMerchant, Portal: h.srv.portal, CardSteps: stripe, StripePublishableKey: "pk_test_123"})

	p := newPageClient(t, h)
	p.get("/portal?token=" + url.QueryEscape(token))
	resp, err := p.c.Get(p.ts.URL + "/portal")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' https://js.stripe.com") || !strings.Contains(csp, "frame-src https://js.stripe.com") {
		t.Fatalf("CSP with Stripe: %q", csp)
	}
	_, body := p.get("/portal")
	csrf := field(t, csrfField, body)
	if strings.Contains(body, "js.stripe.com") {
		t.Fatalf("Stripe.js loaded without a step:\n%s", body)
	}
	// Authentication: the PaymentIntent's client secret goes to Stripe.js confirmCardPayment.
	if !strings.Contains(body, `action="/portal/invoices/`+id+`/authenticate"`) {
		t.Fatalf("no authenticate button:\n%s", body)
	}
	st, body := p.post("/portal/invoices/"+id+"/authenticate", url.Values{"csrf": {csrf}})
	if st != 200 || !strings.Contains(body, `id="stripe-auth"`) || !strings.Contains(body, `data-client-secret="pi_fixture_secret_x"`) ||
		!strings.Contains(body, `<script src="https://js.stripe.com/v3/"></script>`) || strings.Contains(body, `id="sim-challenge"`) {
		t.Fatalf("Stripe authentication step %d:\n%s", st, body)
	}
	r = h.do("POST", "/v1/portal/invoices/"+id+"/authentications", token, nil)
	mustStatus(t, r, 201)
	if a := r.JSON(t); a["provider"] != "stripe" || a["client_secret"] != "pi_fixture_secret_x" || a["publishable_key"] != "pk_test_123" || a["amount"] != "30.00" {
		t.Fatalf("authentication %s", r.Body)
	}
	if st, _ := p.post("/portal/invoices/"+id+"/authenticate/complete", url.Values{"csrf": {csrf}, "payment_id": {"pi_fixture"}}); st != 303 {
		t.Fatalf("complete the authentication: %d", st)
	}
	got := h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	applied := false
	for _, tx := range txns(got) {
		applied = applied || (tx["method"] == "card_on_session" && tx["reference"] == "pi_fixture" && tx["amount"] == "30.00")
	}
	if !applied {
		t.Fatalf("invoice %v", got)
	}

	// The card form.
	st, body = p.post("/portal/card-setup", url.Values{"csrf": {csrf}})
	if st != 200 || !strings.Contains(body, `<script src="https://js.stripe.com/v3/"></script>`) || !strings.Contains(body, `id="stripe-setup"`) ||
		!strings.Contains(body, `data-publishable-key="pk_test_123"`) || !strings.Contains(body, `data-client-secret="seti_fixture_secret_x"`) ||
		!strings.Contains(body, `id="payment-element"`) || strings.Contains(body, `id="sim-setup"`) {
		t.Fatalf("Stripe setup step %d:\n%s", st, body)
	}
	if st, js := p.get("/portal/assets/portal-stripe.js"); st != 200 || !strings.Contains(js, "confirmSetup") || !strings.Contains(js, "confirmCardPayment") {
		t.Fatalf("page script %d", st)
	}
	if st, _ := p.post("/portal/sim/card-setup", url.Values{"csrf": {csrf}, "setup_id": {"seti_fixture"}, "payment_method": {"pm_fixture"}}); st != 404 {
		t.Fatalf("the simulated form with Stripe: %d", st)
	}
	if st, _ := p.post("/portal/card-setup/complete", url.Values{"csrf": {csrf}, "setup_id": {"seti_fixture"}, "payment_method": {"pm_other"}}); st != 400 {
		t.Fatalf("another payment method than the setup's: %d", st)
	}
	if st, _ := p.post("/portal/card-setup/complete", url.Values{"csrf": {csrf}, "setup_id": {"seti_fixture"}, "payment_method": {"pm_fixture"}}); st != 303 {
		t.Fatalf("complete the setup: %d", st)
	}
	pm := h.do("GET", "/v1/portal/payment-method", token, nil).JSON(t)
	if pm["provider_id"] != "pm_fixture" || pm["last4"] != "4242" || pm["exp_year"] != float64(2031) {
		t.Fatalf("saved card %v", pm)
	}

}
