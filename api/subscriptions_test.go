package api

import (
	"fmt"
	"testing"
	"time"

	"payorch/ids"
)

func TestSubscriptions(t *testing.T) {
	h := newWalletHarness(t)
	cust := h.customer("JPY")
	start, end := "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
	r := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{
		"customer_id": cust, "amount": "3000", "current_period_start": start, "current_period_end": end, "external_id": "plan-1",
	})
	mustStatus(t, r, 201)
	s := r.JSON(t)
	id := s["id"].(string)
	if !ids.HasPrefix(id, ids.Subscription) || s["object"] != "subscription" || s["currency"] != "JPY" || s["amount"] != "3000" ||
		s["status"] != "active" || s["current_period_start"] != start || s["current_period_end"] != end || s["external_id"] != "plan-1" {
		t.Fatalf("subscription %v", s)
	}
	for _, key := range []string{backendKey, supportKey} {
		g := h.do("GET", "/v1/subscriptions/"+id, key, nil)
		mustStatus(t, g, 200)
		if g.JSON(t)["id"] != id {
			t.Fatalf("GET %s", g.Body)
		}
	}
	other := h.customer("EUR")
	for i := 0; i < 3; i++ {
		mustStatus(t, h.do("POST", "/v1/subscriptions", backendKey, map[string]any{
			"customer_id": other, "amount": fmt.Sprintf("%d.50", i), "current_period_start": start, "current_period_end": end,
		}), 201)
	}
	l := h.do("GET", "/v1/subscriptions?customer_id="+cust, supportKey, nil)
	mustStatus(t, l, 200)
	if d := l.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != id {
		t.Fatalf("filtered list %s", l.Body)
	}
	var amounts []string
	cur := ""
	for pages := 0; pages < 5; pages++ {
		path := "/v1/subscriptions?limit=3"
		if cur != "" {
			path += "&cursor=" + cur
		}
		m := h.do("GET", path, backendKey, nil).JSON(t)
		for _, d := range m["data"].([]any) {
			amounts = append(amounts, d.(map[string]any)["amount"].(string))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		cur = next
	}
	if fmt.Sprint(amounts) != "[2.50 1.50 0.50 3000]" {
		t.Fatalf("pages %v, want newest first", amounts)
	}

	u := h.do("POST", "/v1/subscriptions/"+id+"/usage", backendKey, map[string]any{"amount": "120", "description": "API calls", "occurred_at": "2026-01-15T10:00:00+02:00"})
	mustStatus(t, u, 201)
	rec := u.JSON(t)
	if !ids.HasPrefix(rec["id"].(string), ids.Usage) || rec["amount"] != "120" || rec["currency"] != "JPY" || rec["occurred_at"] != "2026-01-15T08:00:00Z" ||
		rec["subscription_id"] != id || rec["invoice_id"] != nil {
		t.Fatalf("usage %v", rec)
	}
}

// TestSubscriptionRefusals: every refusal writes nothing.
func TestSubscriptionRefusals(t *testing.T) {
	h := newWalletHarness(t)
	cust := h.customer("EUR")
	start, end := "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
	valid := func(over map[string]any) map[string]any {
		b := map[string]any{"customer_id": cust, "amount": "30.00", "current_period_start": start, "current_period_end": end}
		for k, v := range over {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
	}{
		{"no customer", backendKey, valid(map[string]any{"customer_id": nil}), 400, "parameter_missing"},
		{"unknown customer", backendKey, valid(map[string]any{"customer_id": "cus_missing"}), 404, "resource_missing"},
		{"no amount", backendKey, valid(map[string]any{"amount": nil}), 400, "parameter_missing"},
		{"amount decimals", backendKey, valid(map[string]any{"amount": "30.001"}), 400, "amount_invalid"},
		{"amount number", backendKey, valid(map[string]any{"amount": 30}), 400, "parameter_invalid_type"},
		{"no start", backendKey, valid(map[string]any{"current_period_start": nil}), 400, "parameter_missing"},
		{"bad start", backendKey, valid(map[string]any{"current_period_start": "2026-01-01"}), 400, "parameter_invalid"},
		{"end before start", backendKey, valid(map[string]any{"current_period_end": start}), 400, "parameter_invalid"},
		{"unknown field", backendKey, valid(map[string]any{"currency": "USD"}), 400, "parameter_unknown"},
		{"support key", supportKey, valid(nil), 403, "role_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.count("subscriptions")
			r := h.do("POST", "/v1/subscriptions", c.key, c.body)
			mustStatus(t, r, c.status)
			if got := r.ErrorCode(t); got != c.code {
				t.Fatalf("code %q, want %q: %s", got, c.code, r.Body)
			}
			if h.count("subscriptions") != before {
				t.Fatal("a refused request wrote a subscription")
			}
		})
	}
	mustStatus(t, h.do("POST", "/v1/subscriptions", backendKey, valid(map[string]any{"external_id": "x"})), 201)
	dup := h.do("POST", "/v1/subscriptions", backendKey, valid(map[string]any{"external_id": "x"}))
	mustStatus(t, dup, 409)
	if dup.ErrorCode(t) != "external_id_taken" || h.count("subscriptions") != 1 {
		t.Fatalf("duplicate external_id: %s", dup.Body)
	}
	sub := h.do("GET", "/v1/subscriptions?customer_id="+cust, backendKey, nil).JSON(t)["data"].([]any)[0].(map[string]any)["id"].(string)
	mustStatus(t, h.do("GET", "/v1/subscriptions/sub_missing", supportKey, nil), 404)

	usage := func(over map[string]any) map[string]any {
		b := map[string]any{"amount": "1.00", "description": "calls", "occurred_at": time.Now().UTC().Format(time.RFC3339)}
		for k, v := range over {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	ucases := []struct {
		name, path, key string
		body            any
		status          int
		code            string
	}{
		{"zero", sub, backendKey, usage(map[string]any{"amount": "0"}), 400, "amount_invalid"},
		{"no description", sub, backendKey, usage(map[string]any{"description": nil}), 400, "parameter_invalid"},
		{"bad occurred_at", sub, backendKey, usage(map[string]any{"occurred_at": "yesterday"}), 400, "parameter_invalid"},
		{"unknown subscription", "sub_missing", backendKey, usage(nil), 404, "resource_missing"},
		{"support key", sub, supportKey, usage(nil), 403, "role_not_allowed"},
	}
	for _, c := range ucases {
		t.Run("usage "+c.name, func(t *testing.T) {
			r := h.do("POST", "/v1/subscriptions/"+c.path+"/usage", c.key, c.body)
			mustStatus(t, r, c.status)
			if got := r.ErrorCode(t); got != c.code {
				t.Fatalf("code %q, want %q: %s", got, c.code, r.Body)
			}
			if h.count("usage_records") != 0 {
				t.Fatal("a refused request wrote usage")
			}
		})
	}
	if _, err := h.pool.Exec(t.Context(), "UPDATE subscriptions SET status = 'cancelled', cancelled_at = now() WHERE id = $1", sub); err != nil {
		t.Fatal(err)
	}
	r := h.do("POST", "/v1/subscriptions/"+sub+"/usage", backendKey, usage(nil))
	mustStatus(t, r, 422)
	if r.ErrorCode(t) != "subscription_cancelled" || h.count("usage_records") != 0 {
		t.Fatalf("usage on a cancelled subscription: %s", r.Body)
	}
}
