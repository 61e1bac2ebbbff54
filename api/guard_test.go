package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"payorch/ledger/ledgertest"
)

// allRows counts the rows of every table of the schema (but tern's version table), so a
// test can show that a refused request wrote nothing anywhere.
func (h *harness) allRows() string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(),
		`SELECT table_name FROM information_schema.tables
		 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_version'
		 ORDER BY table_name`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	var b strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&b, "%s=%d ", t, h.count(`"`+t+`"`))
	}
	return b.String()
}

// raw sends a request whose path, body and headers are used byte for byte.
func (h *harness) raw(method, target, body string, headers map[string]string) response {
	h.t.Helper()
	req := httptest.NewRequest(method, "/", strings.NewReader(body))
	if body == "" {
		req = httptest.NewRequest(method, "/", nil)
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
	req.Header.Set("Authorization", "Bearer "+backendKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// TestPoisonRefusedOnEveryRoute walks the router: NUL bytes and invalid UTF-8 in a body
// string (a value, a key, a nested value), in a path id, in a query value and in the headers
// the API reads, and blank path ids, are a 400 naming the parameter on every route, never a
// 5xx, and no row is written anywhere (not even an Idempotency-Key claim).
func TestPoisonRefusedOnEveryRoute(t *testing.T) {
	h := newHarness(t)
	// Some rows exist, so that a route reaching the database would find something to change.
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR"})
	mustStatus(t, r, 201)
	before := h.allRows()

	type tc struct {
		name, path, body string
		headers          map[string]string
		param            string
	}
	var cases []tc
	for _, rt := range h.srv.Routes() {
		// path with every parameter set to a plausible id, and with the first one poisoned.
		plain, poisoned, blank := rt.Path, rt.Path, rt.Path
		firstParam := ""
		for _, seg := range strings.Split(rt.Path, "/") {
			if !strings.HasPrefix(seg, ":") {
				continue
			}
			if firstParam == "" {
				firstParam = seg[1:]
				poisoned = strings.Replace(poisoned, seg, "id\x00x", 1)
				blank = strings.Replace(blank, seg, "  ", 1)
			} else {
				poisoned = strings.Replace(poisoned, seg, "x_1", 1)
				blank = strings.Replace(blank, seg, "x_1", 1)
			}
			plain = strings.Replace(plain, seg, "x_1", 1)
		}
		m := rt.Method
		if firstParam != "" {
			cases = append(cases,
				tc{m + " " + rt.Path + " NUL id", poisoned, "", nil, firstParam},
				tc{m + " " + rt.Path + " invalid UTF-8 id", strings.Replace(poisoned, "id\x00x", "id\xffx", 1), "", nil, firstParam},
				tc{m + " " + rt.Path + " blank id", blank, "", nil, firstParam})
		}
		cases = append(cases,
			tc{m + " " + rt.Path + " NUL query", plain + "?limit=1%00", "", nil, "limit"},
			tc{m + " " + rt.Path + " invalid UTF-8 query", plain + "?customer_id=%FF", "", nil, "customer_id"},
			tc{m + " " + rt.Path + " NUL Idempotency-Key", plain, "", map[string]string{"Idempotency-Key": "k\x00"}, "Idempotency-Key"},
			tc{m + " " + rt.Path + " invalid UTF-8 X-Request-Id", plain, "", map[string]string{"X-Request-Id": "r\xfe"}, "X-Request-Id"},
			tc{m + " " + rt.Path + " NUL Authorization", plain, "", map[string]string{"Authorization": "Bearer " + backendKey + "\x00"}, "Authorization"})
		if m == http.MethodPost || m == http.MethodPatch || m == http.MethodPut {
			cases = append(cases,
				tc{m + " " + rt.Path + " NUL body value", plain, `{"name":"Ada\u0000Lovelace"}`, nil, "name"},
				tc{m + " " + rt.Path + " raw NUL body value", plain, "{\"name\":\"Ada\x00\"}", nil, ""},
				tc{m + " " + rt.Path + " NUL body key", plain, `{"na\u0000me":"Ada"}`, nil, "na\uFFFDme"},
				tc{m + " " + rt.Path + " nested NUL", plain, `{"lines":[{"description":"ok","amount":"1.00"},{"description":"a\u0000"}]}`, nil, "lines[1].description"},
				tc{m + " " + rt.Path + " invalid UTF-8 value", plain, "{\"reference\":\"TRX\xff\"}", nil, "reference"},
				tc{m + " " + rt.Path + " invalid UTF-8 nested key", plain, "{\"settings\":{\"a\xc3\":true}}", nil, "settings.a\uFFFD"},
				tc{m + " " + rt.Path + " NUL with Idempotency-Key", plain, `{"reason":"x\u0000"}`, map[string]string{"Idempotency-Key": "poison-1"}, "reason"})
		}
	}
	if len(cases) < 100 {
		t.Fatalf("only %d cases: the router walk found too few routes", len(cases))
	}
	for _, c := range cases {
		r := h.raw(methodOf(c.name), c.path, c.body, c.headers)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", c.name, r.Status, r.Body)
			continue
		}
		e := r.JSON(t)["error"].(map[string]any)
		if e["type"] != "invalid_request_error" || e["code"] == "" {
			t.Errorf("%s: untyped error %s", c.name, r.Body)
		}
		if c.param != "" && e["param"] != c.param {
			t.Errorf("%s: param %v, want %q (%s)", c.name, e["param"], c.param, r.Body)
		}
	}
	if after := h.allRows(); after != before {
		t.Fatalf("refused requests wrote rows:\nbefore %s\nafter  %s", before, after)
	}
}

func methodOf(name string) string { m, _, _ := strings.Cut(name, " "); return m }

// TestImpossibleDatesRefused: a year before 2000 or after 2100 in any date field of any
// body is a 400 naming the field, and nothing is written.
func TestImpossibleDatesRefused(t *testing.T) {
	h := newHarness(t)
	before := h.allRows()
	for _, c := range []struct{ path, body, param string }{
		{"/v1/subscriptions", `{"customer_id":"cus_x","amount":"1.00","current_period_start":"0000-01-01T00:00:00Z","current_period_end":"2030-01-01T00:00:00Z"}`, "current_period_start"},
		{"/v1/subscriptions", `{"customer_id":"cus_x","amount":"1.00","current_period_start":"2030-01-01T00:00:00Z","current_period_end":"9999-12-31T00:00:00Z"}`, "current_period_end"},
		{"/v1/subscriptions/sub_x/usage", `{"amount":"1.00","description":"x","occurred_at":"1999-12-31T23:59:59Z"}`, "occurred_at"},
		{"/v1/invoices", `{"customer_id":"cus_x","lines":[{"description":"x","amount":"1.00"}],"period_start":"0000-01-01T00:00:00Z"}`, "period_start"},
		{"/v1/invoices", `{"customer_id":"cus_x","lines":[{"description":"x","amount":"1.00"}],"period_end":"2101-01-01T00:00:00Z"}`, "period_end"},
		{"/v1/invoices/inv_x/reconcile", `{"amount":"1.00","reference":"R1","paid_at":"9999-01-01T00:00:00Z"}`, "paid_at"},
	} {
		r := h.raw("POST", c.path, c.body, nil)
		mustStatus(t, r, 400)
		if e := r.JSON(t)["error"].(map[string]any); e["param"] != c.param || e["code"] != "parameter_invalid" {
			t.Errorf("%s: %s, want param %s", c.path, r.Body, c.param)
		}
	}
	if after := h.allRows(); after != before {
		t.Fatalf("refused requests wrote rows:\nbefore %s\nafter  %s", before, after)
	}
}

// TestContentTypeAndScheme: a body must be declared JSON (415 otherwise, charset allowed);
// an empty body needs no Content-Type; the Bearer scheme is case-insensitive.
func TestContentTypeAndScheme(t *testing.T) {
	h := newHarness(t)
	body := `{"name":"Ada","email":"ada@example.com","currency":"EUR"}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "application/jsonx"} {
		r := h.raw("POST", "/v1/customers", body, map[string]string{"Content-Type": ct})
		mustStatus(t, r, http.StatusUnsupportedMediaType)
		if r.ErrorCode(t) != "unsupported_media_type" {
			t.Fatalf("%q: %s", ct, r.Body)
		}
	}
	if n := h.count("customers"); n != 0 {
		t.Fatalf("%d customers written by refused requests", n)
	}
	mustStatus(t, h.raw("POST", "/v1/customers", body, map[string]string{"Content-Type": "application/json; charset=UTF-8"}), 201)
	// No body, no Content-Type: fine (404 for the unknown subscription, not 415).
	r := h.raw("POST", "/v1/subscriptions/sub_nope/cancel", "", nil)
	mustStatus(t, r, 404)

	for _, auth := range []string{"bearer " + backendKey, "BEARER " + backendKey, "Bearer  " + backendKey} {
		mustStatus(t, h.raw("GET", "/v1/customers", "", map[string]string{"Authorization": auth}), 200)
	}
	for _, auth := range []string{"Basic " + backendKey, "Bearer", "bearer ", backendKey} {
		r := h.raw("GET", "/v1/customers", "", map[string]string{"Authorization": auth})
		mustStatus(t, r, 401)
	}
}

// TestUnknownListFiltersRefused: a filter value the domain does not know, or a filter the
// route does not have, is a 400 naming it instead of a list of everything.
func TestUnknownListFiltersRefused(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct{ path, param, code string }{
		{"/v1/invoices?status=bogus", "status", "parameter_invalid"},
		{"/v1/subscriptions?status=bogus", "status", "parameter_invalid"},
		{"/v1/subscriptions?state=errored", "state", "parameter_unknown"},
		{"/v1/customers?emial=a@example.com", "emial", "parameter_unknown"},
		{"/v1/webhook-endpoints?status=active", "status", "parameter_unknown"},
	} {
		r := h.raw("GET", c.path, "", nil)
		mustStatus(t, r, 400)
		if e := r.JSON(t)["error"].(map[string]any); e["param"] != c.param || e["code"] != c.code {
			t.Errorf("%s: %s", c.path, r.Body)
		}
	}
	for _, st := range []string{"to_pay", "paid", "error", "voided"} {
		mustStatus(t, h.raw("GET", "/v1/invoices?status="+st, "", nil), 200)
	}
	// Deliveries: the status list is the webhooks package's.
	ep := h.do("POST", "/v1/webhook-endpoints", backendKey, map[string]any{"url": "https://example.com/hook"})
	mustStatus(t, ep, 201)
	id := ep.JSON(t)["id"].(string)
	r := h.raw("GET", "/v1/webhook-endpoints/"+id+"/deliveries?status=bogus", "", nil)
	mustStatus(t, r, 400)
	mustStatus(t, h.raw("GET", "/v1/webhook-endpoints/"+id+"/deliveries?status=failed", "", nil), 200)
}

// TestBodylessRoutesRefuseFields: revert, retry, rotate-secret and delivery retry act on the
// whole resource; a body with fields ({"amount":"1.00"} on a revert) is refused, not
// ignored, and an empty body or {} still works.
func TestBodylessRoutesRefuseFields(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMSettle)
	load := h.load(wallet, map[string]any{"amount": "50.00", "type": "free"}).JSON(t)
	tx := load["wallet_transaction_id"].(string)
	revert := "/v1/wallets/" + wallet + "/transactions/" + tx + "/revert"
	h.refused("POST", revert, backendKey, map[string]any{"amount": "1.00"}, 400, "parameter_unknown")
	if h.getWallet(wallet)["balance"] != "50.00" {
		t.Fatal("a refused partial revert took money back")
	}
	for _, path := range []string{"/v1/invoices/inv_nope/retry", "/v1/webhook-endpoints/whe_nope/rotate-secret", "/v1/webhook-deliveries/whd_nope/retry"} {
		r := h.do("POST", path, backendKey, map[string]any{"amount": "1.00"})
		mustStatus(t, r, 400)
		if r.ErrorCode(t) != "parameter_unknown" {
			t.Fatalf("%s: %s", path, r.Body)
		}
		// Without fields the request goes through to the resource (which does not exist).
		mustStatus(t, h.do("POST", path, backendKey, map[string]any{}), 404)
		mustStatus(t, h.do("POST", path, backendKey, nil), 404)
	}
	r := h.do("POST", revert, backendKey, map[string]any{})
	mustStatus(t, r, 201)
	if h.getWallet(wallet)["balance"] != "0.00" {
		t.Fatalf("revert with {} did not revert: %v", h.getWallet(wallet))
	}
}

// TestBlankIDsRefused: an id that is only white space, in a path, a query, a body (at any
// depth) or as the Idempotency-Key, is a 400 naming it; nothing is written.
func TestBlankIDsRefused(t *testing.T) {
	h := newHarness(t)
	before := h.allRows()
	for _, c := range []struct {
		method, path, body string
		headers            map[string]string
		param              string
	}{
		{"GET", "/v1/customers/ ", "", nil, "id"},
		{"GET", "/v1/invoices?customer_id=%20%20", "", nil, "customer_id"},
		{"POST", "/v1/wallets", `{"customer_id":"   "}`, nil, "customer_id"},
		{"POST", "/v1/customers", `{"name":"Ada","email":"ada@example.com","currency":"EUR","external_id":"\t "}`, nil, "external_id"},
		{"POST", "/v1/invoices", `{"customer_id":"cus_1","lines":[{"description":"x","amount":"1.00","product_id":" "}]}`, nil, "lines[0].product_id"},
		{"POST", "/v1/customers", `{"name":"Ada","email":"ada@example.com","currency":"EUR"}`, map[string]string{"Idempotency-Key": "  "}, "Idempotency-Key"},
	} {
		r := h.raw(c.method, c.path, c.body, c.headers)
		mustStatus(t, r, 400)
		if e := r.JSON(t)["error"].(map[string]any); e["param"] != c.param || e["code"] != "parameter_invalid" {
			t.Errorf("%s %s: %s, want param %s", c.method, c.path, r.Body, c.param)
		}
	}
	if after := h.allRows(); after != before {
		t.Fatalf("refused requests wrote rows:\nbefore %s\nafter  %s", before, after)
	}
	// Outside the JSON API (server-rendered pages), a form is not a 415, but its values
	// follow the same text rules.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	mustStatus(t, h.raw("POST", "/portal/nothing", "name=Ada", form), 404)
	r := h.raw("POST", "/portal/nothing", "name=A%00da", form)
	mustStatus(t, r, 400)
	if r.JSON(t)["error"].(map[string]any)["param"] != "name" {
		t.Fatalf("form: %s", r.Body)
	}
	mustStatus(t, h.raw("POST", "/v1/customers", "name=Ada", form), 415)
}
