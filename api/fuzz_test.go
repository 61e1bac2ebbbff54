package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/collection"
	"payorch/config"
	"payorch/payments"
)

// The fuzz targets of the API run their seeds (f.Add and testdata/fuzz/<Name>/) as plain
// tests in `make test`, and explore with `make fuzz`. Each builds one server on a fresh
// database (with a customer and a wallet, so that ids can point at something real) and
// sends every input through the whole router: guard, authorization, Idempotency-Key, the
// handler's decoding. The properties: nothing panics or fails inside (no 5xx; the router's
// recover turns a panic into a 500); every refusal is a 4xx whose body is the typed error
// envelope; a refused request writes no row anywhere; poison (a NUL byte or invalid UTF-8)
// is always refused with a 400.

// fuzzServer is one API server on its own database, shared by a fuzz target's inputs.
type fuzzServer struct {
	srv        *Server
	pool       *pgxpool.Pool
	countQuery string // one statement counting the rows of every table
	customerID string
	walletID   string
	// portalToken is a portal token of the fixture customer: send authenticates the
	// /v1/portal/ routes with it (the backend key elsewhere), so that their handlers are
	// reached.
	portalToken string
	routes      gin.RoutesInfo // the /v1/ routes, sorted
}

func newFuzzServer(f testing.TB) *fuzzServer {
	f.Helper()
	pool, _ := env.Postgres.NewPool(f)
	keys, err := config.ParseAPIKeys("backend:" + backendKey + ",support:" + supportKey)
	if err != nil {
		f.Fatal(err)
	}
	srv := New(Deps{Pool: pool, Temporal: env.Temporal, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// A secret, so that the Stripe webhook route verifies (and refuses unsigned bodies).
		StripeWebhookSecret: fuzzStripeSecret,
		// The simulated provider's card steps, so that the portal's card routes decode
		// and answer instead of refusing as unavailable.
		CardSteps: payments.NewSimulated(pool, payments.SimulatedOptions{})})
	srv.providerEvents = providerEventsFor(srv)
	fs := &fuzzServer{srv: srv, pool: pool}

	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_version'
		ORDER BY table_name`)
	if err != nil {
		f.Fatal(err)
	}
	var parts []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			f.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf(`'%s=' || (SELECT count(*) FROM %q)`, name, name))
	}
	rows.Close()
	if len(parts) == 0 {
		f.Fatal("no tables")
	}
	fs.countQuery = "SELECT " + strings.Join(parts, " || ' ' || ")

	r := fs.send(http.MethodPost, "/v1/customers", `{"name":"Ada","email":"ada@example.com","currency":"EUR"}`, nil)
	if r.Status != http.StatusCreated {
		f.Fatalf("fixture customer: %d %s", r.Status, r.Body)
	}
	fs.customerID = jsonField(f, r.Body, "id")
	r = fs.send(http.MethodPost, "/v1/wallets", fmt.Sprintf(`{"customer_id":%q}`, fs.customerID), nil)
	if r.Status != http.StatusCreated {
		f.Fatalf("fixture wallet: %d %s", r.Status, r.Body)
	}
	fs.walletID = jsonField(f, r.Body, "id")
	r = fs.send(http.MethodPost, "/v1/customers/"+fs.customerID+"/portal-sessions", "", nil)
	if r.Status != http.StatusCreated {
		f.Fatalf("fixture portal session: %d %s", r.Status, r.Body)
	}
	fs.portalToken = jsonField(f, r.Body, "token")

	for _, rt := range fs.srv.Routes() {
		if strings.HasPrefix(rt.Path, "/v1/") {
			fs.routes = append(fs.routes, rt)
		}
	}
	sort.Slice(fs.routes, func(i, j int) bool {
		if fs.routes[i].Path != fs.routes[j].Path {
			return fs.routes[i].Path < fs.routes[j].Path
		}
		return fs.routes[i].Method < fs.routes[j].Method
	})
	return fs
}

func jsonField(tb testing.TB, body []byte, field string) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, body)
	}
	s, _ := m[field].(string)
	if s == "" {
		tb.Fatalf("no %s in %s", field, body)
	}
	return s
}

// providerEventsFor is the provider event handler the processes wire
// (internal/app.ProviderEvents, which this package cannot import): a pending wallet load's
// outcome resolves the load, any other event goes to its invoice's workflow.
func providerEventsFor(srv *Server) payments.EventHandler {
	router := &collection.EventRouter{Collection: srv.collect}
	return payments.EventHandlerFunc(func(ctx context.Context, ev payments.Event) error {
		_, err := srv.ledger.ResolvePendingLoad(ctx, ev)
		if err == nil || !apperr.IsKind(err, apperr.NotFound) {
			return err
		}
		return router.HandleProviderEvent(ctx, ev)
	})
}

// send serves one request byte for byte: path and raw query are used as given (no
// escaping), the body is sent as application/json with the backend key (the portal token
// on /v1/portal/ routes, once minted); headers are set as given (an empty value removes
// the header, headerEmpty sends it with an empty value).
func (fs *fuzzServer) send(method, target, body string, headers map[string]string) response {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, "/", nil)
	} else {
		req = httptest.NewRequest(method, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
	req.Header.Set("Authorization", "Bearer "+backendKey)
	if strings.HasPrefix(path, "/v1/portal/") && fs.portalToken != "" {
		req.Header.Set("Authorization", "Bearer "+fs.portalToken)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		if v == headerEmpty {
			v = ""
		}
		req.Header[k] = []string{v}
	}
	rec := httptest.NewRecorder()
	fs.srv.Handler().ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// headerEmpty, as a header value given to send, sends the header with an empty value.
const headerEmpty = "\x00(empty)"

// rows counts the rows of every table.
func (fs *fuzzServer) rows(t *testing.T) string {
	t.Helper()
	var s string
	if err := fs.pool.QueryRow(context.Background(), fs.countQuery).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// plainPath fills a route's parameters with the fixtures' ids (the customer's for :id on
// customer routes, the wallet's on wallet routes, a well-formed unknown id elsewhere).
func (fs *fuzzServer) plainPath(path string) string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, ":") {
			switch {
			case strings.HasPrefix(path, "/v1/customers/") && seg == ":id":
				seg = fs.customerID
			case strings.HasPrefix(path, "/v1/wallets/") && seg == ":id":
				seg = fs.walletID
			default:
				seg = "x_unknown1"
			}
		}
		out = append(out, seg)
	}
	return strings.Join(out, "/")
}

var errorKinds = map[string]bool{
	string(apperr.Invalid): true, string(apperr.Unauthenticated): true, string(apperr.Forbidden): true,
	string(apperr.NotFound): true, string(apperr.Conflict): true, string(apperr.Rule): true,
	string(apperr.PaymentFailed): true,
}

// checkRefusal asserts the common properties: no 5xx; a non-2xx answer is a 4xx with the
// typed error envelope, and wrote nothing (before is fs.rows before the request). It
// returns the error code ("" for a 2xx).
func (fs *fuzzServer) checkRefusal(t *testing.T, what string, r response, before string) string {
	t.Helper()
	code := typedError(t, what, r)
	if code == "" {
		return ""
	}
	if after := fs.rows(t); after != before {
		t.Fatalf("%s: refused with %d %s, but rows changed:\nbefore %s\nafter  %s", what, r.Status, code, before, after)
	}
	return code
}

// typedError asserts that r is a success or a 4xx with the typed error envelope, and
// returns the error code ("" for a 2xx).
func typedError(t *testing.T, what string, r response) string {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("%s: %d (5xx): %s", what, r.Status, r.Body)
	}
	if r.Status < 300 {
		return ""
	}
	if r.Status < 400 {
		t.Fatalf("%s: %d, neither a success nor a 4xx: %s", what, r.Status, r.Body)
	}
	var body struct {
		Error *struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error == nil ||
		!errorKinds[body.Error.Type] || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("%s: %d without a typed error body: %s", what, r.Status, r.Body)
	}
	return body.Error.Code
}

// poisoned reports whether s holds a NUL byte or is not valid UTF-8.
func poisoned(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }

// jsonHasNUL reports whether a JSON document has a NUL in a decoded key or string
// (escaped as \u0000), at any depth.
func jsonHasNUL(body string) bool {
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return strings.IndexByte(x, 0) >= 0
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for k, e := range x {
				if strings.IndexByte(k, 0) >= 0 || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// FuzzJSONBody sends arbitrary bodies to every /v1/ route that takes one (POST, PATCH,
// PUT; the portal's with the fixture's portal token), chosen by the first argument: the guard (NUL, invalid UTF-8, impossible dates, blank
// ids) and each handler's decoder (unknown fields, wrong types, trailing data, amounts)
// must answer a typed 4xx and write nothing, or accept a well-formed request; never a 5xx.
func FuzzJSONBody(f *testing.F) {
	fs := newFuzzServer(f)
	var routes []gin.RouteInfo
	for _, rt := range fs.routes {
		if rt.Method == http.MethodPost || rt.Method == http.MethodPatch {
			routes = append(routes, rt)
		}
	}
	// The PUT routes come last, so that the committed corpus's route numbers keep naming
	// the routes they were written for.
	for _, rt := range fs.routes {
		if rt.Method == http.MethodPut {
			routes = append(routes, rt)
		}
	}
	for i := range routes {
		for _, body := range []string{`{}`, `{"name":"Ada\u0000"}`, "{\"name\":\"Ada\xff\"}", `{"amount":"-1.00"}`, `[]`, `{"x":1}`, `null`} {
			f.Add(uint8(i), body)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		path := fs.plainPath(rt.Path)
		what := fmt.Sprintf("%s %s %q", rt.Method, path, body)
		before := fs.rows(t)
		r := fs.send(rt.Method, path, body, nil)
		code := fs.checkRefusal(t, what, r, before)
		if (poisoned(body) || jsonHasNUL(body)) && r.Status != http.StatusBadRequest {
			t.Fatalf("%s: poison answered %d %s, want 400: %s", what, r.Status, code, r.Body)
		}
	})
}

// FuzzPathQuery sends every /v1/ route (chosen by the first argument) with its first path
// parameter replaced by an arbitrary id and an arbitrary raw query string, without a body:
// no 5xx, a refusal is a typed 4xx that wrote nothing, and poison in the id or in a query
// name or value is a 400.
func FuzzPathQuery(f *testing.F) {
	fs := newFuzzServer(f)
	routes := fs.routes
	for i := range routes {
		for _, in := range [][2]string{{"x_1", ""}, {"id\x00", ""}, {"id\xff", ""}, {"  ", ""}, {"x_1", "limit=-1"}, {"x_1", "limit=1%00"}, {"x_1", "customer_id=%FF"}, {"x_1", "a=%zz"}, {"x_1", "starting_after=%20"}} {
			f.Add(uint8(i), in[0], in[1])
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, id, query string) {
		rt := routes[int(route)%len(routes)]
		path := rt.Path
		hasParam := strings.Contains(path, "/:")
		if hasParam {
			segs := strings.Split(path, "/")
			for i, seg := range segs {
				if strings.HasPrefix(seg, ":") {
					segs[i] = id
					break
				}
			}
			path = fs.plainPath(strings.Join(segs, "/"))
		} else {
			path = fs.plainPath(path)
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		what := fmt.Sprintf("%s %q", rt.Method, target)
		before := fs.rows(t)
		r := fs.send(rt.Method, target, "", nil)
		fs.checkRefusal(t, what, r, before)
		bad := hasParam && poisoned(id)
		if q, err := url.ParseQuery(query); err == nil {
			for k, vs := range q {
				bad = bad || poisoned(k)
				for _, v := range vs {
					bad = bad || poisoned(v)
				}
			}
		}
		if bad && r.Status != http.StatusBadRequest {
			t.Fatalf("%s: poison answered %d, want 400: %s", what, r.Status, r.Body)
		}
	})
}

// validIdempotencyKey is the documented rule for an Idempotency-Key (DESIGN.md, HTTP API):
// 1 to 255 bytes of UTF-8 without control characters, not only white space.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 || !utf8.ValidString(k) || strings.TrimSpace(k) == "" {
		return false
	}
	return !strings.ContainsFunc(k, unicode.IsControl)
}

// FuzzIdempotencyKey sends a customer creation with an arbitrary Idempotency-Key. A key
// outside the rule is a typed 400 on Idempotency-Key that wrote nothing (no claim either);
// a valid key creates one customer, the same request again replays the same answer byte
// for byte and writes nothing, and the same key with another body is a 409
// idempotency_key_reused that writes nothing.
func FuzzIdempotencyKey(f *testing.F) {
	fs := newFuzzServer(f)
	for _, k := range []string{"", "k1", " ", "k\x00", "k\xff", "k\n", strings.Repeat("k", 255), strings.Repeat("k", 256), "ключ-1", "\u0085k"} {
		f.Add(k)
	}
	n := 0
	f.Fuzz(func(t *testing.T, key string) {
		// A key may come again (the fuzzer repeats inputs): start each input from no keys.
		if _, err := fs.pool.Exec(context.Background(), "DELETE FROM idempotency_keys"); err != nil {
			t.Fatal(err)
		}
		if key == "" {
			// An empty Idempotency-Key header is no key: the request runs, and nothing is
			// recorded for it.
			r := fs.send(http.MethodPost, "/v1/customers", `{"name":"Fuzz","email":"f@example.com","currency":"EUR"}`, map[string]string{"Idempotency-Key": headerEmpty})
			if r.Status != http.StatusCreated || fs.keyRecorded(t, "") {
				t.Fatalf("empty Idempotency-Key: %d %s", r.Status, r.Body)
			}
			var n int
			if err := fs.pool.QueryRow(context.Background(), "SELECT count(*) FROM idempotency_keys").Scan(&n); err != nil || n != 0 {
				t.Fatalf("empty Idempotency-Key: %d keys recorded (%v)", n, err)
			}
			return
		}
		n++
		body := fmt.Sprintf(`{"name":"Fuzz","email":"f%d@example.com","currency":"EUR"}`, n)
		hdr := map[string]string{"Idempotency-Key": key}
		what := fmt.Sprintf("Idempotency-Key %q", key)
		before := fs.rows(t)
		r := fs.send(http.MethodPost, "/v1/customers", body, hdr)
		code := fs.checkRefusal(t, what, r, before)
		if !validIdempotencyKey(key) {
			if r.Status != http.StatusBadRequest || !bytes.Contains(r.Body, []byte(`"param":"Idempotency-Key"`)) {
				t.Fatalf("%s: invalid key answered %d %s, want 400 on Idempotency-Key: %s", what, r.Status, code, r.Body)
			}
			return
		}
		if r.Status != http.StatusCreated {
			t.Fatalf("%s: valid key answered %d: %s", what, r.Status, r.Body)
		}
		afterFirst := fs.rows(t)
		again := fs.send(http.MethodPost, "/v1/customers", body, hdr)
		if again.Status != r.Status || !bytes.Equal(again.Body, r.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s: replay answered %d %s (replayed %q), first %d %s", what, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), r.Status, r.Body)
		}
		if now := fs.rows(t); now != afterFirst {
			t.Fatalf("%s: the replay wrote rows:\nbefore %s\nafter  %s", what, afterFirst, now)
		}
		other := fs.send(http.MethodPost, "/v1/customers", `{"name":"Other","email":"o@example.com","currency":"EUR"}`, hdr)
		if got := fs.checkRefusal(t, what+" other body", other, afterFirst); other.Status != http.StatusConflict || got != "idempotency_key_reused" {
			t.Fatalf("%s: another body with the same key answered %d %s, want 409 idempotency_key_reused", what, other.Status, other.Body)
		}
	})
}
