package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"payorch/outbox"
	"payorch/store"
	"payorch/webhooks"
)

func TestWebhookEndpointsCRUD(t *testing.T) {
	h := newHarness(t)
	const base = "/v1/webhook-endpoints"

	r := h.do("POST", base, backendKey, map[string]any{"url": "https://merchant.example/hooks", "description": "billing"})
	mustStatus(t, r, http.StatusCreated)
	ep := r.JSON(t)
	id, _ := ep["id"].(string)
	secret, _ := ep["secret"].(string)
	if !strings.HasPrefix(id, "whe_") || !strings.HasPrefix(secret, "whsec_") || ep["status"] != "active" ||
		ep["enabled"] != true || ep["description"] != "billing" || ep["object"] != "webhook_endpoint" {
		t.Fatalf("created endpoint %s", r.Body)
	}
	if evs := ep["events"].([]any); len(evs) != 1 || evs[0] != "*" {
		t.Fatalf("events %v, want [*] (all)", evs)
	}

	// Validation: nothing is written on a 400.
	for _, c := range []struct {
		body  any
		code  string
		param string
	}{
		{map[string]any{"url": "ftp://merchant.example/hooks"}, "url_invalid", "url"},
		{map[string]any{"url": "/relative"}, "url_invalid", "url"},
		{map[string]any{}, "parameter_missing", "url"},
		{map[string]any{"url": "https://m.example", "events": []string{"invoice.paid"}}, "event_type_unknown", "events"},
		{map[string]any{"url": "https://m.example", "events": []string{outbox.EmailPaymentFailed}}, "event_type_unknown", "events"},
		{map[string]any{"url": "https://m.example", "events": []string{}}, "parameter_invalid", "events"},
		{map[string]any{"url": "https://m.example", "events": []string{"*", outbox.InvoiceSettled}}, "parameter_invalid", "events"},
		{map[string]any{"url": "https://m.example", "secret": "whsec_mine"}, "parameter_unknown", "secret"},
	} {
		r := h.do("POST", base, backendKey, c.body)
		mustStatus(t, r, http.StatusBadRequest)
		if code := r.ErrorCode(t); code != c.code || r.JSON(t)["error"].(map[string]any)["param"] != c.param {
			t.Fatalf("%v: %s, want %s on %s", c.body, r.Body, c.code, c.param)
		}
	}
	if n := h.count("webhook_endpoints"); n != 1 {
		t.Fatalf("%d endpoints after refused creates", n)
	}
	// Support keys read but do not manage.
	mustStatus(t, h.do("POST", base, supportKey, map[string]any{"url": "https://m.example"}), http.StatusForbidden)
	mustStatus(t, h.do("PATCH", base+"/"+id, supportKey, map[string]any{"enabled": false}), http.StatusForbidden)
	mustStatus(t, h.do("DELETE", base+"/"+id, supportKey, nil), http.StatusForbidden)
	mustStatus(t, h.do("GET", base, "", nil), http.StatusUnauthorized)

	// The secret is shown once.
	r = h.do("GET", base+"/"+id, supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.Body), "whsec_") || r.JSON(t)["secret"] != nil {
		t.Fatalf("GET shows the secret: %s", r.Body)
	}
	r = h.do("GET", base, supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	if data := r.JSON(t)["data"].([]any); len(data) != 1 || strings.Contains(string(r.Body), "whsec_") {
		t.Fatalf("list %s", r.Body)
	}

	// PATCH: disable, narrow the events, change the URL.
	r = h.do("PATCH", base+"/"+id, backendKey, map[string]any{
		"enabled": false, "events": []string{outbox.InvoiceErrored, outbox.InvoiceErrored, outbox.SubscriptionErrored},
		"url": "http://hooks.merchant.example:8443/hooks",
	})
	mustStatus(t, r, http.StatusOK)
	ep = r.JSON(t)
	if ep["status"] != "disabled" || ep["enabled"] != false || ep["url"] != "http://hooks.merchant.example:8443/hooks" || ep["description"] != "billing" {
		t.Fatalf("patched %s", r.Body)
	}
	if evs := ep["events"].([]any); len(evs) != 2 || evs[0] != outbox.InvoiceErrored || evs[1] != outbox.SubscriptionErrored {
		t.Fatalf("events %v", evs)
	}
	r = h.do("PATCH", base+"/"+id, backendKey, map[string]any{"url": "javascript:alert(1)"})
	mustStatus(t, r, http.StatusBadRequest)
	r = h.do("PATCH", base+"/"+id, backendKey, map[string]any{"events": []string{"*"}, "enabled": true})
	mustStatus(t, r, http.StatusOK)
	if evs := r.JSON(t)["events"].([]any); len(evs) != 1 || evs[0] != "*" || r.JSON(t)["status"] != "active" {
		t.Fatalf("back to all: %s", r.Body)
	}
	mustStatus(t, h.do("PATCH", base+"/whe_nope", backendKey, map[string]any{"enabled": true}), http.StatusNotFound)

	// Rotation returns the new secret once and shows the overlap.
	r = h.do("POST", base+"/"+id+"/rotate-secret", backendKey, nil)
	mustStatus(t, r, http.StatusOK)
	rot := r.JSON(t)
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret || rot["previous_secret_expires_at"] == nil {
		t.Fatalf("rotated %s", r.Body)
	}
	mustStatus(t, h.do("POST", base+"/whe_nope/rotate-secret", backendKey, nil), http.StatusNotFound)

	// DELETE.
	r = h.do("DELETE", base+"/"+id, backendKey, nil)
	mustStatus(t, r, http.StatusOK)
	if r.JSON(t)["deleted"] != true {
		t.Fatalf("delete %s", r.Body)
	}
	mustStatus(t, h.do("GET", base+"/"+id, backendKey, nil), http.StatusNotFound)
	mustStatus(t, h.do("DELETE", base+"/"+id, backendKey, nil), http.StatusNotFound)
}

func TestWebhookDeliveriesAPI(t *testing.T) {
	h := newHarness(t)
	// The receiver listens on 127.0.0.1.
	h.srv = New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys, Logger: h.srv.log, WebhookAllowPrivateNetworks: true})
	ctx := context.Background()
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()

	r := h.do("POST", "/v1/webhook-endpoints", backendKey, map[string]any{"url": recv.URL + "/hooks", "events": []string{outbox.InvoiceSettled}})
	mustStatus(t, r, http.StatusCreated)
	id, secret := r.JSON(t)["id"].(string), r.JSON(t)["secret"].(string)

	var evt string
	if err := store.InTx(ctx, h.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		evt, err = outbox.Emit(ctx, q, outbox.Event{Type: outbox.InvoiceSettled, ResourceType: "invoice", ResourceID: "inv_1",
			Data: map[string]any{"id": "inv_1", "status": "paid"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	disp := webhooks.NewDispatcher(h.pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	disp.HTTP = webhooks.NewHTTPClient(webhooks.DefaultTimeout, true) // the receiver is on 127.0.0.1
	if _, err := disp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	r = h.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries", supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	data := r.JSON(t)["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("deliveries %s", r.Body)
	}
	d := data[0].(map[string]any)
	did := d["id"].(string)
	if !strings.HasPrefix(did, "whd_") || d["status"] != "delivered" || d["attempts"] != float64(1) ||
		d["last_status_code"] != float64(200) || d["event_id"] != evt || d["event_type"] != outbox.InvoiceSettled || d["next_attempt_at"] != nil {
		t.Fatalf("delivery %s", r.Body)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	mu.Lock()
	if len(got) != 1 || wh.Verify(bodies[0], got[0].Header) != nil {
		t.Fatalf("receiver got %d requests, or a bad signature", len(got))
	}
	mu.Unlock()

	// A support tool redelivers it.
	r = h.do("POST", "/v1/webhook-deliveries/"+did+"/retry", supportKey, nil)
	mustStatus(t, r, http.StatusAccepted)
	if r.JSON(t)["status"] != "pending" || r.JSON(t)["next_attempt_at"] == nil {
		t.Fatalf("retry %s", r.Body)
	}
	if _, err := disp.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 2 || got[1].Header.Get("webhook-id") != evt || wh.Verify(bodies[1], got[1].Header) != nil {
		t.Fatalf("redelivery: %d requests", len(got))
	}
	mu.Unlock()
	r = h.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?status=delivered", backendKey, nil)
	mustStatus(t, r, http.StatusOK)
	if d := r.JSON(t)["data"].([]any)[0].(map[string]any); d["attempts"] != float64(2) || d["status"] != "delivered" {
		t.Fatalf("after redelivery %s", r.Body)
	}
	r = h.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?status=failed", backendKey, nil)
	mustStatus(t, r, http.StatusOK)
	if len(r.JSON(t)["data"].([]any)) != 0 {
		t.Fatalf("failed filter %s", r.Body)
	}
	mustStatus(t, h.do("GET", "/v1/webhook-endpoints/"+id+"/deliveries?status=lost", backendKey, nil), http.StatusBadRequest)
	mustStatus(t, h.do("GET", "/v1/webhook-endpoints/whe_nope/deliveries", backendKey, nil), http.StatusNotFound)
	mustStatus(t, h.do("POST", "/v1/webhook-deliveries/whd_nope/retry", backendKey, nil), http.StatusNotFound)
}

// TestWebhookURLCheckedAtRegistration: create and update refuse URLs with user info, an
// invalid port, another scheme or a literal non-public address (400, nothing written),
// unless the server allows private networks.
func TestWebhookURLCheckedAtRegistration(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/v1/webhook-endpoints", backendKey, map[string]any{"url": "https://merchant.example/hooks"})
	mustStatus(t, r, http.StatusCreated)
	id := r.JSON(t)["id"].(string)
	for _, c := range []struct{ url, code string }{
		{"https://user:pass@merchant.example/hooks", "url_invalid"},
		{"https://merchant.example:99999/hooks", "url_invalid"},
		{"https://merchant.example:0/hooks", "url_invalid"},
		{"gopher://merchant.example/", "url_invalid"},
		{"http://127.0.0.1:8080/hooks", "url_not_public"},
		{"http://[64:ff9b::7f00:1]/hooks", "url_not_public"},
		{"http://169.254.169.254/latest/meta-data", "url_not_public"},
	} {
		for _, req := range []struct{ method, path string }{{"POST", "/v1/webhook-endpoints"}, {"PATCH", "/v1/webhook-endpoints/" + id}} {
			r := h.do(req.method, req.path, backendKey, map[string]any{"url": c.url})
			mustStatus(t, r, http.StatusBadRequest)
			if code := r.ErrorCode(t); code != c.code || r.JSON(t)["error"].(map[string]any)["param"] != "url" {
				t.Fatalf("%s %s: %s, want %s", req.method, c.url, r.Body, c.code)
			}
		}
	}
	if n := h.count("webhook_endpoints WHERE url <> 'https://merchant.example/hooks'"); n != 0 || h.count("webhook_endpoints") != 1 {
		t.Fatal("a refused URL was stored")
	}
	// With private networks allowed (make run), a loopback receiver can be registered.
	open := New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys, Logger: h.srv.log, WebhookAllowPrivateNetworks: true})
	h2 := &harness{t: t, srv: open, pool: h.pool}
	mustStatus(t, h2.do("POST", "/v1/webhook-endpoints", backendKey, map[string]any{"url": "http://127.0.0.1:8080/hooks"}), http.StatusCreated)
	mustStatus(t, h2.do("POST", "/v1/webhook-endpoints", backendKey, map[string]any{"url": "https://u:p@127.0.0.1/hooks"}), http.StatusBadRequest)
}
