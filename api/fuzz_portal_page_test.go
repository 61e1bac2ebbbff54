package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// FuzzPortalPage sends the customer portal page's routes (outside /v1/: server-rendered
// HTML and plain forms), chosen by the first argument, with the fixture's session cookie:
// the first path parameter replaced by an arbitrary id, an arbitrary raw query, and on form
// posts an arbitrary URL-encoded form after the session's valid csrf field (so that the
// handlers behind the CSRF check are reached). Properties: no 5xx; a refusal (4xx) wrote
// nothing; poison (NUL, invalid UTF-8) in the id, a query value or a form value is a 400.
// The logout route is left out: it would end the fixture's session for every later input.
func FuzzPortalPage(f *testing.F) {
	fs := newFuzzServer(f)
	var routes gin.RoutesInfo
	for _, rt := range fs.srv.Routes() {
		if strings.HasPrefix(rt.Path, "/portal") && rt.Path != "/portal/logout" {
			routes = append(routes, rt)
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].Path != routes[j].Path {
			return routes[i].Path < routes[j].Path
		}
		return routes[i].Method < routes[j].Method
	})
	csrf := "csrf=" + csrfToken(fs.portalToken)
	// Control: the session's cookie opens the page.
	if r := fs.sendPage(http.MethodGet, "/portal", "", ""); r.Status != http.StatusOK {
		f.Fatalf("control: the portal page answered %d: %.300s", r.Status, r.Body)
	}
	for i := range routes {
		for _, in := range [][3]string{
			{"x_1", "", ""}, {"x\x00", "", ""}, {"x\xff", "", ""}, {" ", "", ""},
			{"x_1", "token=bad", ""}, {"x_1", "a=%00", ""}, {"x_1", "", "amount=1.001"}, {"x_1", "", "amount=%FF"},
			{"x_1", "", "setup_id=&payment_method=pm_card_visa"}, {"x_1", "", "decision=approve&invoice_id=inv_x&client_secret=s"},
			{"x_1", "", "csrf=other"}, {"x_1", "", "%zz"},
		} {
			f.Add(uint8(i), in[0], in[1], in[2])
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, id, query, form string) {
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
			path = strings.Join(segs, "/")
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		body := ""
		if rt.Method == http.MethodPost {
			body = csrf
			if form != "" {
				body += "&" + form
			}
		}
		what := fmt.Sprintf("%s %q form %q", rt.Method, target, form)
		before := fs.rows(t)
		r := fs.sendPage(rt.Method, target, body, "")
		if r.Status >= 500 {
			t.Fatalf("%s: %d (5xx): %.500s", what, r.Status, r.Body)
		}
		if r.Status >= 400 {
			if after := fs.rows(t); after != before {
				t.Fatalf("%s: refused with %d, but rows changed:\nbefore %s\nafter  %s", what, r.Status, before, after)
			}
		}
		bad := hasParam && poisoned(id)
		sent := []string{query}
		if rt.Method == http.MethodPost {
			sent = append(sent, form)
		}
		for _, raw := range sent {
			if q, err := url.ParseQuery(raw); err == nil {
				for k, vs := range q {
					bad = bad || poisoned(k)
					for _, v := range vs {
						bad = bad || poisoned(v)
					}
				}
			}
		}
		if bad && r.Status != http.StatusBadRequest {
			t.Fatalf("%s: poison answered %d, want 400: %.300s", what, r.Status, r.Body)
		}
	})
}

// sendPage serves one portal page request with the fixture's session cookie: path and raw
// query as given, a form body as application/x-www-form-urlencoded.
func (fs *fuzzServer) sendPage(method, target, form, cookie string) response {
	var req *http.Request
	if form == "" {
		req = httptest.NewRequest(method, "/", nil)
	} else {
		req = httptest.NewRequest(method, "/", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
	if cookie == "" {
		cookie = fs.portalToken
	}
	req.AddCookie(&http.Cookie{Name: portalCookie, Value: cookie})
	rec := httptest.NewRecorder()
	fs.srv.Handler().ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}
