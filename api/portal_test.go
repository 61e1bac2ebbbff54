package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/contracts"
	"payorch/ids"
	"payorch/internal/testenv/poll"
	"payorch/ledger"
	"payorch/ledger/ledgertest"
	"payorch/payments"
	"payorch/workflows"
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

// newPortalHarness is the API with one worker hosting both the wallet-load and the invoice
// payment workflows on the simulated provider, and small portal limits (100 per top-up,
// 150 balance) so the limits are reached in few steps.
func newPortalHarness(t *testing.T) *invoiceHarness {
	t.Helper()
	h := newHarness(t)
	queue := "test-portal-" + ids.New("q")
	w := worker.New(env.Temporal, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.InvoicePayment, workflow.RegisterOptions{Name: contracts.InvoicePaymentWorkflow})
	w.RegisterWorkflow(workflows.WalletLoad)
	sim := payments.NewSimulated(h.pool, payments.SimulatedOptions{})
	w.RegisterActivity(&activities.Activities{Pool: h.pool, Provider: sim})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	h.srv = New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: queue, CardSteps: sim,
		RetrySchedule: []time.Duration{time.Hour, time.Hour, time.Hour}, Merchant: testMerchant,
		PortalLimits: ledger.PortalLimits{MaxLoad: decimal.NewFromInt(100), MaxBalance: decimal.NewFromInt(150)}})
	t.Cleanup(func() { ledgertest.AssertBalanced(t, h.pool) })
	return &invoiceHarness{walletHarness: &walletHarness{harness: h}}
}

// portalCustomer is a EUR customer with a card (pm, if set), a wallet with portal top-ups
// on (or off) and a portal token.
func (h *invoiceHarness) portalCustomer(pm string, topUp bool) (customerID, walletID, token string) {
	h.t.Helper()
	customerID = h.customer("EUR")
	if pm != "" {
		h.method(customerID, pm)
	}
	walletID = h.wallet(customerID, map[string]any{"portal_top_up": topUp, "auto_debit": true})["id"].(string)
	return customerID, walletID, h.portalSession(customerID)["token"].(string)
}

func (h *invoiceHarness) topUp(token, amount string) response {
	h.t.Helper()
	return h.do("POST", "/v1/portal/wallet/top-ups", token, map[string]any{"amount": amount})
}

// TestPortalWalletAndTopUp: the customer sees balance, projected balance, limits and
// transactions; a top-up is charged at once and answered after its outcome; the limits,
// the portal_top_up setting and the card requirement refuse in plain words, writing nothing.
func TestPortalWalletAndTopUp(t *testing.T) {
	h := newPortalHarness(t)
	_, wallet, token := h.portalCustomer("pm_card_visa", true)
	w := h.do("GET", "/v1/portal/wallet", token, nil)
	mustStatus(t, w, 200)
	body := w.JSON(t)
	lim := body["limits"].(map[string]any)
	if wl := body["wallet"].(map[string]any); wl["id"] != wallet || wl["balance"] != "0.00" || wl["projected_balance"] != "0.00" ||
		lim["max_load"] != "100.00" || lim["max_balance"] != "150.00" || lim["enabled"] != true || len(body["transactions"].([]any)) != 0 {
		t.Fatalf("portal wallet %s", w.Body)
	}

	r := h.topUp(token, "60.00")
	mustStatus(t, r, 201)
	out := r.JSON(t)
	if ld := out["load"].(map[string]any); ld["status"] != "settled" || ld["source"] != "portal" || ld["receipt"] == nil ||
		out["wallet"].(map[string]any)["balance"] != "60.00" {
		t.Fatalf("top-up %s", r.Body)
	}
	txs := h.do("GET", "/v1/portal/wallet", token, nil).JSON(t)["transactions"].([]any)
	if len(txs) != 1 || txs[0].(map[string]any)["type"] != "credit_paid" || txs[0].(map[string]any)["amount"] != "60.00" {
		t.Fatalf("transactions %v", txs)
	}

	for _, c := range []struct{ amount, code, words string }{
		{"100.01", "portal_load_limit_exceeded", "at most 100.00 EUR"},
		{"91.00", "portal_balance_limit_exceeded", "the balance would be 151.00 EUR"},
	} {
		before := h.written()
		r := h.topUp(token, c.amount)
		mustStatus(t, r, 422)
		msg := r.JSON(t)["error"].(map[string]any)["message"].(string)
		if r.ErrorCode(t) != c.code || !strings.Contains(msg, c.words) {
			t.Fatalf("top-up %s: %s", c.amount, r.Body)
		}
		if after := h.written(); after != before {
			t.Fatalf("a refused top-up wrote rows:\n%s\n%s", before, after)
		}
	}
	mustStatus(t, h.topUp(token, "90.00"), 201)
	mustStatus(t, h.topUp(token, "-5"), 400)
	mustStatus(t, h.do("POST", "/v1/portal/wallet/top-ups", token, `{"amount":"5.00","type":"free"}`), 400)

	_, _, off := h.portalCustomer("pm_card_visa", false)
	if r := h.topUp(off, "10.00"); r.Status != 422 || r.ErrorCode(t) != "portal_top_up_disabled" {
		t.Fatalf("top-up disabled: %s", r.Body)
	}
	_, _, noCard := h.portalCustomer("", true)
	if r := h.topUp(noCard, "10.00"); r.Status != 422 || r.ErrorCode(t) != "no_automated_payment_method" {
		t.Fatalf("no card: %s", r.Body)
	}
	_, declinedWallet, declined := h.portalCustomer("pm_card_chargeDeclinedInsufficientFunds", true)
	r = h.topUp(declined, "10.00")
	mustStatus(t, r, 402)
	if r.ErrorCode(t) != "payment_failed" {
		t.Fatalf("declined top-up code %s", r.Body)
	}
	if ld, w := r.JSON(t)["load"].(map[string]any), r.JSON(t)["wallet"].(map[string]any); ld["status"] != "failed" || ld["error_type"] == nil || w["balance"] != "0.00" || h.getWallet(declinedWallet)["balance"] != "0.00" {
		t.Fatalf("declined top-up %s", r.Body)
	}
}

// TestPortalTopUpRace: two top-ups at once cannot pass the balance limit together.
func TestPortalTopUpRace(t *testing.T) {
	h := newPortalHarness(t)
	_, wallet, token := h.portalCustomer("pm_card_visa", true)
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.topUp(token, "100.00").Status
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			ok++
		case 422:
			refused++
		}
	}
	if ok != 1 || refused != 3 || h.getWallet(wallet)["balance"] != "100.00" {
		t.Fatalf("statuses %v, balance %v: the limit of 150 let more than one 100.00 top-up through", statuses, h.getWallet(wallet)["balance"])
	}
}

// TestPortalSeesOneCustomer: a token for A gets 404 for every resource of B, and lists
// only A's.
func TestPortalSeesOneCustomer(t *testing.T) {
	h := newPortalHarness(t)
	ada, adaWallet, adaToken := h.portalCustomer("pm_card_visa", true)
	bob, bobWallet, bobToken := h.portalCustomer("pm_card_visa", true)
	resources := map[string][]string{}
	for cust, wallet := range map[string]string{ada: adaWallet, bob: bobWallet} {
		inv := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})
		paid := h.load(wallet, map[string]any{"amount": "20.00", "type": "paid"}).JSON(t)
		free := h.load(wallet, map[string]any{"amount": "5.00", "type": "free"}).JSON(t)
		resources[cust] = []string{
			"/v1/portal/invoices/" + inv["id"].(string) + "/pdf",
			"/v1/portal/receipts/" + paid["receipt"].(map[string]any)["id"].(string) + "/pdf",
			"/v1/portal/credit-notes/" + free["credit_note"].(map[string]any)["id"].(string) + "/pdf",
		}
	}
	for _, c := range []struct{ token, own, other string }{{adaToken, ada, bob}, {bobToken, bob, ada}} {
		for _, path := range resources[c.own] {
			mustStatus(t, h.do("GET", path, c.token, nil), 200)
		}
		for _, path := range resources[c.other] {
			if r := h.do("GET", path, c.token, nil); r.Status != 404 {
				t.Fatalf("%s's token on %s's %s: %d %s", c.own, c.other, path, r.Status, r.Body)
			}
		}
		invs := h.do("GET", "/v1/portal/invoices", c.token, nil).JSON(t)["data"].([]any)
		if len(invs) != 2 { // the bank-transfer invoice and the paid load's invoice
			t.Fatalf("%s sees %d invoices", c.own, len(invs))
		}
		for _, x := range invs {
			if x.(map[string]any)["customer_id"] != c.own {
				t.Fatalf("%s sees %v", c.own, x)
			}
		}
		docs := h.do("GET", "/v1/portal/documents", c.token, nil).JSON(t)
		rc, cn := docs["receipts"].([]any), docs["credit_notes"].([]any)
		if len(rc) != 1 || len(cn) != 1 || rc[0].(map[string]any)["customer_id"] != c.own || cn[0].(map[string]any)["customer_id"] != c.own {
			t.Fatalf("%s's documents %v", c.own, docs)
		}
		if w := h.do("GET", "/v1/portal/wallet", c.token, nil).JSON(t)["wallet"].(map[string]any); w["customer_id"] != c.own {
			t.Fatalf("%s's wallet %v", c.own, w)
		}
	}
	// The backend routes of B's resources are closed to A's token.
	mustStatus(t, h.do("GET", "/v1/wallets/"+bobWallet, adaToken, nil), 401)
}

// TestPortalReplaceCard: an invoice waiting for a new card after an expired-card decline
// is charged at once when the customer saves a new card in the portal.
func TestPortalReplaceCard(t *testing.T) {
	h := newPortalHarness(t)
	cust, _, token := h.portalCustomer("pm_card_chargeDeclinedExpiredCard", true)
	id := h.invoice(cust, map[string]any{"payment_method": "card"})["id"].(string)
	poll.Until(t, 30*time.Second, "payment state awaiting_action", func() (bool, string) {
		st := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil).JSON(t)
		return st["payment_status"] == contracts.PaymentAwaitingAction, fmt.Sprint(st)
	})
	mustStatus(t, h.do("PUT", "/v1/portal/payment-method", token, map[string]any{"provider_id": "pm_card_visa"}), 400)
	r := h.do("PUT", "/v1/portal/payment-method", token, map[string]any{"provider_id": "pm_card_visa", "exp_month": 12, "exp_year": time.Now().Year() + 2})
	mustStatus(t, r, 200)
	if pm := r.JSON(t); pm["default"] != true || pm["customer_id"] != cust || pm["provider_id"] != "pm_card_visa" {
		t.Fatalf("saved card %s", r.Body)
	}
	if pm := h.do("GET", "/v1/portal/payment-method", token, nil).JSON(t); pm["provider_id"] != "pm_card_visa" {
		t.Fatalf("default card %v", pm)
	}
	paid := h.waitInvoice(id, "paid with the portal's new card", func(m map[string]any) bool { return m["status"] == "paid" })
	if tx := txns(paid); len(tx) != 2 || tx[1]["status"] != "settled" {
		t.Fatalf("transactions %v", tx)
	}
}
