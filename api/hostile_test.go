package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
)

// openAPIOperation is one method and path of the OpenAPI document, with what the hostile
// request table needs to know about it.
type openAPIOperation struct {
	Method, Path string // Path in the router's form (/v1/customers/:id)
	Portal       bool   // authenticated by a portal token
	Public       bool   // no authentication (security: [])
	HasBody      bool
}

// openAPIOperations reads api/openapi.json: every /v1/ operation, sorted.
func openAPIOperations(t *testing.T) []openAPIOperation {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security    *[]map[string][]string `json:"security"`
			RequestBody json.RawMessage        `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []openAPIOperation
	for path, byMethod := range doc.Paths {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		segs := strings.Split(path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				segs[i] = ":" + s[1:len(s)-1]
			}
		}
		for method, op := range byMethod {
			o := openAPIOperation{Method: strings.ToUpper(method), Path: strings.Join(segs, "/"), HasBody: op.RequestBody != nil}
			if op.Security != nil {
				o.Public = len(*op.Security) == 0
				for _, req := range *op.Security {
					if _, ok := req["portalToken"]; ok {
						o.Portal = true
					}
				}
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	if len(ops) < 40 {
		t.Fatalf("only %d /v1/ operations in openapi.json", len(ops))
	}
	return ops
}

// supportMay reports whether the support role may call an API-key operation: reads, and
// the writes the bearer scheme names (retry, reconcile, reactivate, cancel, revert).
func supportMay(o openAPIOperation) bool {
	if o.Method == http.MethodGet {
		return true
	}
	for _, verb := range []string{"/retry", "/reconcile", "/reactivate", "/cancel", "/revert"} {
		if strings.HasSuffix(o.Path, verb) {
			return true
		}
	}
	return false
}

// TestHostileRequestsFromOpenAPI sends hostile requests to every /v1/ operation of the
// OpenAPI document: no key, a wrong key, the support key on backend-only writes, a portal
// token on API-key routes and an API key on portal routes; on every operation that takes a
// body, an unknown field, a NUL and invalid UTF-8, and bodies of 1 MB and 20 MB; and
// negative, zero, over-precise, exponent, numeric and too large amounts on the money
// routes (wallet load, invoice). Every answer is a 4xx with the typed error envelope and
// no row is written anywhere.
func TestHostileRequestsFromOpenAPI(t *testing.T) {
	fs := newFuzzServer(t)
	r := fs.send(http.MethodPost, "/v1/customers/"+fs.customerID+"/portal-sessions", "", nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("portal session: %d %s", r.Status, r.Body)
	}
	portalToken := jsonField(t, r.Body, "token")

	// Controls: the money bodies below are well-formed but for their amount.
	loadPath := "/v1/wallets/" + fs.walletID + "/load"
	loadBody := func(amount string) string { return fmt.Sprintf(`{"amount":%s,"type":"free"}`, amount) }
	invoiceBody := func(amount string) string {
		return fmt.Sprintf(`{"customer_id":%q,"currency":"EUR","lines":[{"description":"Plan","amount":%s}]}`, fs.customerID, amount)
	}
	if r := fs.send(http.MethodPost, loadPath, loadBody(`"1.00"`), nil); r.Status != http.StatusCreated {
		t.Fatalf("control wallet load: %d %s", r.Status, r.Body)
	}
	if r := fs.send(http.MethodPost, "/v1/invoices", invoiceBody(`"1.00"`), nil); r.Status >= 300 {
		t.Fatalf("control invoice: %d %s", r.Status, r.Body)
	}

	type tc struct {
		name, method, path, body string
		headers                  map[string]string
		want                     []int  // acceptable statuses (all 4xx)
		code                     string // the error code required, if any
	}
	var cases []tc
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	noAuth := map[string]string{"Authorization": ""}
	// Valid JSON but for its size (white space), so only the size limit can refuse it.
	huge := func(n int) string { return `{"name":"Ada"` + strings.Repeat(" ", n) + `}` }
	oneMB, twentyMB := huge(1<<20), huge(20<<20)

	for _, o := range openAPIOperations(t) {
		path := fs.plainPath(o.Path)
		body := ""
		if o.HasBody {
			body = `{}`
		}
		n := o.Method + " " + o.Path
		switch {
		case o.Public:
		case o.Portal:
			cases = append(cases,
				tc{n + " no token", o.Method, path, body, noAuth, []int{401}, ""},
				tc{n + " API key", o.Method, path, body, bearer(backendKey), []int{401}, ""},
				tc{n + " wrong token", o.Method, path, body, bearer(portalToken + "x"), []int{401}, ""})
		default:
			cases = append(cases,
				tc{n + " no key", o.Method, path, body, noAuth, []int{401}, ""},
				tc{n + " wrong key", o.Method, path, body, bearer("nope"), []int{401}, ""},
				tc{n + " portal token", o.Method, path, body, bearer(portalToken), []int{401}, ""})
			if !supportMay(o) {
				cases = append(cases, tc{n + " support key", o.Method, path, body, bearer(supportKey), []int{403}, ""})
			}
		}
		if !o.HasBody {
			continue
		}
		auth := map[string]string(nil)
		if o.Portal {
			auth = bearer(portalToken)
		}
		cases = append(cases,
			tc{n + " unknown field", o.Method, path, `{"zz_unknown":1}`, auth, []int{400, 401, 404, 409, 422}, ""},
			tc{n + " NUL", o.Method, path, `{"name":"a\u0000b"}`, auth, []int{400}, ""},
			tc{n + " invalid UTF-8", o.Method, path, "{\"name\":\"a\xffb\"}", auth, []int{400}, ""},
			tc{n + " 1 MB body", o.Method, path, oneMB, auth, []int{413}, "body_too_large"},
			tc{n + " 20 MB body", o.Method, path, twentyMB, auth, []int{413}, "body_too_large"})
	}
	for _, a := range []struct{ name, amount string }{
		{"negative", `"-1.00"`}, {"zero", `"0"`}, {"over-precise", `"1.001"`}, {"exponent", `"1e3"`},
		{"number", `12.5`}, {"too large", `"1000000000000"`}, {"empty", `""`}, {"spaced", `" 1.00"`},
	} {
		cases = append(cases,
			tc{"wallet load amount " + a.name, http.MethodPost, loadPath, loadBody(a.amount), nil, []int{400}, ""},
			tc{"invoice line amount " + a.name, http.MethodPost, "/v1/invoices", invoiceBody(a.amount), nil, []int{400}, ""})
	}
	cases = append(cases,
		tc{"invoice wrong currency", http.MethodPost, "/v1/invoices", strings.Replace(invoiceBody(`"1.00"`), `"EUR"`, `"XXX"`, 1), nil, []int{400}, ""})

	for _, c := range cases {
		before := fs.rows(t)
		r := fs.send(c.method, c.path, c.body, c.headers)
		code := fs.checkRefusal(t, c.name, r, before)
		if c.code != "" && code != c.code {
			t.Errorf("%s: %d %s, want %s", c.name, r.Status, code, c.code)
		}
		ok := false
		for _, w := range c.want {
			ok = ok || r.Status == w
		}
		if !ok {
			t.Errorf("%s: %d, want one of %v: %.300s", c.name, r.Status, c.want, r.Body)
		}
	}
	t.Logf("%d hostile requests", len(cases))

	// With an Idempotency-Key, a refused amount is the key's first answer (DESIGN: the same
	// key and body return the first response): the key's record is the only row written,
	// and the same request again replays the 400.
	before := fs.rows(t)
	key := map[string]string{"Idempotency-Key": "hostile-1"}
	first := fs.send(http.MethodPost, loadPath, loadBody(`"-1.00"`), key)
	if first.Status != http.StatusBadRequest {
		t.Fatalf("negative amount with an Idempotency-Key: %d %s", first.Status, first.Body)
	}
	again := fs.send(http.MethodPost, loadPath, loadBody(`"-1.00"`), key)
	if again.Status != first.Status || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay of a refused request: %d %s (replayed %q), first %d %s", again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), first.Status, first.Body)
	}
	if _, err := fs.pool.Exec(context.Background(), "DELETE FROM idempotency_keys WHERE key = 'hostile-1'"); err != nil {
		t.Fatal(err)
	}
	if after := fs.rows(t); after != before {
		t.Fatalf("negative amount with an Idempotency-Key wrote more than the key's record:\nbefore %s\nafter  %s", before, after)
	}
}
