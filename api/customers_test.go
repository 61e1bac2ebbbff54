package api

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestCreateAndGetCustomer(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "currency": "eur", "external_id": "crm-1"})
	mustStatus(t, r, http.StatusCreated)
	c := r.JSON(t)
	id, _ := c["id"].(string)
	if len(id) < 10 || id[:4] != "cus_" {
		t.Fatalf("id %q has no cus_ prefix", id)
	}
	if c["currency"] != "EUR" || c["name"] != "Ada Lovelace" || c["external_id"] != "crm-1" || c["language"] != "en" {
		t.Fatalf("unexpected customer %v", c)
	}
	if _, err := time.Parse(time.RFC3339, c["created_at"].(string)); err != nil || c["created_at"].(string)[len(c["created_at"].(string))-1] != 'Z' {
		t.Fatalf("created_at %v is not RFC 3339 UTC", c["created_at"])
	}
	for _, key := range []string{backendKey, supportKey} {
		g := h.do("GET", "/v1/customers/"+id, key, nil)
		mustStatus(t, g, http.StatusOK)
		if g.JSON(t)["id"] != id {
			t.Fatalf("GET returned %s", g.Body)
		}
	}
	nf := h.do("GET", "/v1/customers/cus_nope", backendKey, nil)
	mustStatus(t, nf, http.StatusNotFound)
	if nf.ErrorCode(t) != "resource_missing" {
		t.Fatalf("404 code %s", nf.Body)
	}
	dup := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Other", "email": "o@example.com", "currency": "EUR", "external_id": "crm-1"})
	mustStatus(t, dup, http.StatusConflict)
	if dup.ErrorCode(t) != "external_id_taken" {
		t.Fatalf("dup code: %s", dup.Body)
	}
	if n := h.count("customers"); n != 1 {
		t.Fatalf("%d customers, want 1", n)
	}
}

func TestCustomerAuth(t *testing.T) {
	h := newHarness(t)
	body := map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR"}
	cases := []struct {
		name, method, path, key string
		status                  int
		code                    string
	}{
		{"no key", "POST", "/v1/customers", "", 401, "missing_api_key"},
		{"unknown key", "POST", "/v1/customers", "not_a_real_key", 401, "invalid_api_key"},
		{"support cannot create", "POST", "/v1/customers", supportKey, 403, "role_not_allowed"},
		{"no key on read", "GET", "/v1/customers", "", 401, "missing_api_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, c.key, body)
			mustStatus(t, r, c.status)
			if got := r.ErrorCode(t); got != c.code {
				t.Fatalf("code %q, want %q", got, c.code)
			}
			if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if n := h.count("customers"); n != 0 {
		t.Fatalf("%d customers written by refused requests", n)
	}
}

func TestCustomerValidation(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name  string
		body  any
		param string
		code  string
	}{
		{"no body", nil, "", "body_missing"},
		{"not json", "{name:", "", "body_invalid"},
		{"array", `[1]`, "", "parameter_invalid_type"},
		{"unknown field", map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR", "plan": "gold"}, "plan", "parameter_unknown"},
		{"missing name", map[string]any{"email": "a@example.com", "currency": "EUR"}, "name", "parameter_invalid"},
		{"bad email", map[string]any{"name": "A", "email": "nope", "currency": "EUR"}, "email", "parameter_invalid"},
		{"bad currency", map[string]any{"name": "A", "email": "a@example.com", "currency": "EURO"}, "currency", "currency_invalid"},
		{"number as name", map[string]any{"name": 12, "email": "a@example.com", "currency": "EUR"}, "name", "parameter_invalid_type"},
		{"two objects", `{"name":"A","email":"a@example.com","currency":"EUR"} {}`, "", "body_invalid"},
		{"bad language", map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR", "language": "English"}, "language", "parameter_invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/v1/customers", backendKey, c.body)
			mustStatus(t, r, http.StatusBadRequest)
			if got := r.ErrorCode(t); got != c.code {
				t.Fatalf("code %q, want %q (%s)", got, c.code, r.Body)
			}
			e := r.JSON(t)["error"].(map[string]any)
			if p, _ := e["param"].(string); p != c.param {
				t.Fatalf("param %q, want %q", p, c.param)
			}
			if e["type"] != "invalid_request_error" {
				t.Fatalf("type %v", e["type"])
			}
		})
	}
	if n := h.count("customers"); n != 0 {
		t.Fatalf("%d customers written by invalid requests", n)
	}
}

func TestListCustomersPagination(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		mustStatus(t, h.do("POST", "/v1/customers", backendKey, map[string]any{"name": fmt.Sprint("C", i), "email": fmt.Sprintf("c%d@example.com", i), "currency": "USD"}), 201)
	}
	var names []string
	cur := ""
	for pages := 0; pages < 10; pages++ {
		path := "/v1/customers?limit=2"
		if cur != "" {
			path += "&cursor=" + cur
		}
		r := h.do("GET", path, supportKey, nil)
		mustStatus(t, r, 200)
		m := r.JSON(t)
		for _, d := range m["data"].([]any) {
			names = append(names, d.(map[string]any)["name"].(string))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		cur = next
	}
	if fmt.Sprint(names) != "[C4 C3 C2 C1 C0]" {
		t.Fatalf("pages gave %v, want newest first", names)
	}
	mustStatus(t, h.do("GET", "/v1/customers?limit=0", backendKey, nil), 400)
	mustStatus(t, h.do("GET", "/v1/customers?cursor=!!!", backendKey, nil), 400)
	r := h.do("GET", "/v1/customers?email=c3@example.com", backendKey, nil)
	if d := r.JSON(t)["data"].([]any); len(d) != 1 {
		t.Fatalf("email filter gave %d", len(d))
	}
}

func TestPaymentMethods(t *testing.T) {
	h := newHarness(t)
	c := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR"}).JSON(t)
	path := "/v1/customers/" + c["id"].(string) + "/payment-methods"
	next := time.Now().Year() + 1

	first := h.do("POST", path, backendKey, map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 12, "exp_year": next, "last4": "4242"})
	mustStatus(t, first, 201)
	pm1 := first.JSON(t)
	if pm1["default"] != true || pm1["status"] != "active" || pm1["id"].(string)[:4] != "pmt_" {
		t.Fatalf("first method should become the default: %v", pm1)
	}
	second := h.do("POST", path, backendKey, map[string]any{"type": "direct_debit", "provider_id": "pm_sim_sepa_settle"}).JSON(t)
	if second["default"] != false {
		t.Fatalf("second method without default:true must not become default: %v", second)
	}
	third := h.do("POST", path, backendKey, map[string]any{"type": "card", "provider_id": "pm_card_mastercard", "exp_month": 1, "exp_year": next, "default": true}).JSON(t)
	if third["default"] != true {
		t.Fatalf("default:true: %v", third)
	}
	l := h.do("GET", path, supportKey, nil)
	mustStatus(t, l, 200)
	defaults := 0
	for _, d := range l.JSON(t)["data"].([]any) {
		if d.(map[string]any)["default"] == true {
			defaults++
			if d.(map[string]any)["id"] != third["id"] {
				t.Fatalf("wrong default %v", d)
			}
		}
	}
	if defaults != 1 {
		t.Fatalf("%d defaults, want 1", defaults)
	}
	bt := h.do("POST", path, backendKey, map[string]any{"type": "bank_transfer"})
	mustStatus(t, bt, 201)

	before := h.count("payment_methods")
	bad := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"card without expiry", map[string]any{"type": "card", "provider_id": "pm_card_visa"}, 400, "parameter_missing"},
		{"expiry on direct debit", map[string]any{"type": "direct_debit", "provider_id": "pm_x", "exp_month": 1, "exp_year": next}, 400, "parameter_unexpected"},
		{"unknown type", map[string]any{"type": "cash", "provider_id": "x"}, 400, "parameter_invalid"},
		{"card without provider id", map[string]any{"type": "card", "exp_month": 1, "exp_year": next}, 400, "parameter_missing"},
		{"month 13", map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 13, "exp_year": next}, 400, "parameter_invalid"},
		{"expired card", map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 1, "exp_year": 2020}, 422, "card_expired"},
		{"month as string", map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": "12", "exp_year": next}, 400, "parameter_invalid_type"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := h.do("POST", path, backendKey, b.body)
			mustStatus(t, r, b.status)
			if got := r.ErrorCode(t); got != b.code {
				t.Fatalf("code %q, want %q: %s", got, b.code, r.Body)
			}
		})
	}
	if after := h.count("payment_methods"); after != before {
		t.Fatalf("refused requests wrote %d payment methods", after-before)
	}
	mustStatus(t, h.do("POST", "/v1/customers/cus_missing/payment-methods", backendKey, map[string]any{"type": "bank_transfer"}), 404)
	mustStatus(t, h.do("POST", path, supportKey, map[string]any{"type": "bank_transfer"}), 403)
}

// TestConcurrentDefaults proves the one-default rule holds under concurrent writers.
func TestConcurrentDefaults(t *testing.T) {
	h := newHarness(t)
	c := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "A", "email": "a@example.com", "currency": "EUR"}).JSON(t)
	path := "/v1/customers/" + c["id"].(string) + "/payment-methods"
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = h.do("POST", path, backendKey, map[string]any{"type": "direct_debit", "provider_id": fmt.Sprint("pm_dd_", i), "default": true}).Status
		}(i)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 201 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	var defaults int
	if err := h.pool.QueryRow(t.Context(), "SELECT count(*) FROM payment_methods WHERE is_default").Scan(&defaults); err != nil {
		t.Fatal(err)
	}
	if defaults != 1 {
		t.Fatalf("%d default payment methods, want exactly 1", defaults)
	}
}
