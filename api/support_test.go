package api

import (
	"net/http"
	"testing"
	"time"
)

// listIDs returns the ids of a list response's data.
func listIDs(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, d := range r.JSON(t)["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// existingID returns error.existing_id of an error body.
func existingID(t *testing.T, r response) string {
	t.Helper()
	s, _ := r.JSON(t)["error"].(map[string]any)["existing_id"].(string)
	return s
}

func oneID(t *testing.T, r response, want string) {
	t.Helper()
	mustStatus(t, r, http.StatusOK)
	if got := listIDs(t, r); len(got) != 1 || got[0] != want {
		t.Fatalf("list %v, want only %s", got, want)
	}
}

// TestLookUpByExternalID: every resource with an external_id is found by it, and a 409 for
// a taken external_id (or a second wallet) names the existing resource.
func TestLookUpByExternalID(t *testing.T) {
	h := &walletHarness{harness: newHarness(t)}
	other := h.customer("EUR")
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR", "external_id": "crm-7"})
	mustStatus(t, r, 201)
	cust := r.JSON(t)["id"].(string)
	if r.JSON(t)["wallet_id"] != nil {
		t.Fatalf("a new customer shows a wallet: %s", r.Body)
	}
	oneID(t, h.do("GET", "/v1/customers?external_id=crm-7", supportKey, nil), cust)
	mustStatus(t, h.do("GET", "/v1/customers?external_id=crm-none", supportKey, nil), 200)
	if got := listIDs(t, h.do("GET", "/v1/customers?external_id=crm-none", supportKey, nil)); len(got) != 0 {
		t.Fatalf("unknown external_id lists %v", got)
	}
	dup := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "B", "email": "b@example.com", "currency": "EUR", "external_id": "crm-7"})
	mustStatus(t, dup, http.StatusConflict)
	if dup.ErrorCode(t) != "external_id_taken" || existingID(t, dup) != cust {
		t.Fatalf("409 does not name %s: %s", cust, dup.Body)
	}

	pmBody := map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 12, "exp_year": time.Now().Year() + 1, "external_id": "pm-ext-1"}
	r = h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, pmBody)
	mustStatus(t, r, 201)
	pm := r.JSON(t)["id"].(string)
	h.method(cust, "pm_card_mastercard")
	oneID(t, h.do("GET", "/v1/customers/"+cust+"/payment-methods?external_id=pm-ext-1", supportKey, nil), pm)
	dup = h.do("POST", "/v1/customers/"+other+"/payment-methods", backendKey, pmBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != pm {
		t.Fatalf("409 does not name %s: %s", pm, dup.Body)
	}
	mustStatus(t, h.do("GET", "/v1/customers/"+cust+"/payment-methods?status=active", supportKey, nil), 400)

	subBody := map[string]any{"customer_id": cust, "amount": "30.00", "current_period_start": "2026-11-01T00:00:00Z",
		"current_period_end": "2026-12-01T00:00:00Z", "external_id": "sub-ext-1"}
	r = h.do("POST", "/v1/subscriptions", backendKey, subBody)
	mustStatus(t, r, 201)
	sub := r.JSON(t)["id"].(string)
	mustStatus(t, h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "5.00",
		"current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z"}), 201)
	oneID(t, h.do("GET", "/v1/subscriptions?external_id=sub-ext-1", supportKey, nil), sub)
	subBody["customer_id"] = other
	dup = h.do("POST", "/v1/subscriptions", backendKey, subBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != sub {
		t.Fatalf("409 does not name %s: %s", sub, dup.Body)
	}

	invBody := map[string]any{"customer_id": cust, "external_id": "inv-ext-1", "payment_method": "bank_transfer",
		"lines": []map[string]any{{"description": "Setup", "amount": "10.00"}}}
	r = h.do("POST", "/v1/invoices", backendKey, invBody)
	mustStatus(t, r, 201)
	inv := r.JSON(t)["id"].(string)
	oneID(t, h.do("GET", "/v1/invoices?external_id=inv-ext-1", supportKey, nil), inv)
	invBody["customer_id"] = other
	dup = h.do("POST", "/v1/invoices", backendKey, invBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != inv {
		t.Fatalf("409 does not name %s: %s", inv, dup.Body)
	}

	// The customer's wallet: shown on the customer, found by customer_id, named by the 409.
	h.wallet(other, nil)
	w := h.wallet(cust, nil)["id"].(string)
	g := h.do("GET", "/v1/customers/"+cust, supportKey, nil)
	mustStatus(t, g, 200)
	if g.JSON(t)["wallet_id"] != w {
		t.Fatalf("customer shows wallet_id %v, want %s", g.JSON(t)["wallet_id"], w)
	}
	l := h.do("GET", "/v1/customers?external_id=crm-7", supportKey, nil)
	if d := l.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["wallet_id"] != w {
		t.Fatalf("listed customer lacks wallet_id %s: %s", w, l.Body)
	}
	oneID(t, h.do("GET", "/v1/wallets?customer_id="+cust, supportKey, nil), w)
	if got := listIDs(t, h.do("GET", "/v1/wallets", supportKey, nil)); len(got) != 2 {
		t.Fatalf("all wallets: %v", got)
	}
	if got := listIDs(t, h.do("GET", "/v1/wallets?customer_id=cus_nobody", supportKey, nil)); len(got) != 0 {
		t.Fatalf("a customer without a wallet lists %v", got)
	}
	mustStatus(t, h.do("GET", "/v1/wallets?customer=x", supportKey, nil), 400)
	dup = h.do("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust})
	mustStatus(t, dup, http.StatusConflict)
	if dup.ErrorCode(t) != "wallet_exists" || existingID(t, dup) != w {
		t.Fatalf("409 does not name wallet %s: %s", w, dup.Body)
	}
}
