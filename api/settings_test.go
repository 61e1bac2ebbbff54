package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"payorch/contracts"
	"payorch/invoices"
	"payorch/settings"
	"payorch/store"
)

// TestDunningSettings: GET shows the configuration's policy until a PUT stores one; a PUT
// is validated at the edge (typed 400 naming the field, nothing written), backend-only,
// idempotent under an Idempotency-Key, and says that it applies to workflows started from
// now on; GET after PUT shows what was stored.
func TestDunningSettings(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/v1/settings/dunning", supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	got := r.JSON(t)
	if got["source"] != settings.SourceConfiguration || !reflect.DeepEqual(got["default"], []any{"2h", "12h", "24h"}) ||
		len(got["by_error_type"].(map[string]any)) != 0 || got["updated_at"] != nil {
		t.Fatalf("configured policy %s", r.Body)
	}
	fixed := got["fixed_rules"].(map[string]any)
	if !strings.Contains(fixed["fraud"].(string), "never retried") || !strings.Contains(fixed["payment_method_expired"].(string), "new payment method") {
		t.Fatalf("fixed rules %v", fixed)
	}

	valid := map[string]any{"default": []string{"2h", "12h", "24h"}, "by_error_type": map[string]any{"processing_error": []string{"15m", "1h", "6h"}}}
	bad := []struct {
		name  string
		body  any
		param string
		code  string
	}{
		{"negative delay", map[string]any{"default": []string{"2h", "-1h"}}, "default", "schedule_invalid"},
		{"zero delay", map[string]any{"default": []string{"0s"}}, "default", "schedule_invalid"},
		{"not a duration", map[string]any{"default": []string{"2 hours"}}, "default", "schedule_invalid"},
		{"no default", map[string]any{"by_error_type": map[string]any{"declined": []string{"1h"}}}, "default", "schedule_invalid"},
		{"eleven steps", map[string]any{"default": strings.Split("1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h", ",")}, "default", "schedule_invalid"},
		{"type with eleven steps", map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"declined": strings.Split("1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h", ",")}}, "by_error_type.declined", "schedule_invalid"},
		{"unknown type", map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"card_declined": []string{"1h"}}}, "by_error_type.card_declined", "error_type_unknown"},
		{"fraud keeps its rule", map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"fraud": []string{"1h"}}}, "by_error_type.fraud", "error_type_rule_fixed"},
		{"hard decline keeps its rule", map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"payment_method_invalid": []string{"1h"}}}, "by_error_type.payment_method_invalid", "error_type_rule_fixed"},
		{"type longer than the default's total", map[string]any{"default": []string{"2h", "12h", "24h"}, "by_error_type": map[string]any{"processing_error": []string{"24h", "48h", "72h"}}}, "by_error_type.processing_error", "schedule_exceeds_deadline"},
		{"a nanosecond", map[string]any{"default": []string{"1ns", "2h"}}, "default", "schedule_invalid"},
		{"type under a minute", map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"processing_error": []string{"59s"}}}, "by_error_type.processing_error", "schedule_invalid"},
		{"a number, not a duration", map[string]any{"default": []int{7200}}, "default", "type_invalid"},
		{"unknown field", map[string]any{"default": []string{"2h"}, "fraud": []string{"1h"}}, "", "body_invalid"},
	}
	for _, b := range bad {
		r := h.do("PUT", "/v1/settings/dunning", backendKey, b.body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: status %d: %s", b.name, r.Status, r.Body)
			continue
		}
		e := r.JSON(t)["error"].(map[string]any)
		if p, _ := e["param"].(string); (b.param != "" && p != b.param) || (b.code != "type_invalid" && b.code != "body_invalid" && e["code"] != b.code) {
			t.Errorf("%s: error %v, want %s on %s", b.name, e, b.code, b.param)
		}
	}
	long := h.do("PUT", "/v1/settings/dunning", backendKey, map[string]any{"default": []string{"2h", "12h", "24h"}, "by_error_type": map[string]any{"processing_error": []string{"24h", "48h", "72h"}}})
	if msg, _ := long.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "the default schedule's total is every invoice's retry deadline") {
		t.Errorf("schedule_exceeds_deadline does not explain the deadline: %s", long.Body)
	}
	mustStatus(t, h.do("PUT", "/v1/settings/dunning", supportKey, valid), http.StatusForbidden)
	if n := h.count("dunning_policy"); n != 0 {
		t.Fatalf("refused PUTs wrote %d row(s)", n)
	}

	// A valid PUT, sent twice with the same key: one change, the same answer.
	put := h.do("PUT", "/v1/settings/dunning", backendKey, valid, "Idempotency-Key", "dunning-1")
	mustStatus(t, put, http.StatusOK)
	out := put.JSON(t)
	if out["source"] != settings.SourceSettings || out["updated_at"] == nil ||
		!reflect.DeepEqual(out["by_error_type"], map[string]any{"processing_error": []any{"15m", "1h", "6h"}}) ||
		!strings.Contains(out["applies_to"].(string), "workflows started from now on") || !strings.Contains(out["applies_to"].(string), "never alters a running one") {
		t.Fatalf("PUT answer %s", put.Body)
	}
	again := h.do("PUT", "/v1/settings/dunning", backendKey, valid, "Idempotency-Key", "dunning-1")
	if again.Status != http.StatusOK || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(put.Body) {
		t.Fatalf("replayed PUT: %d %v %s", again.Status, again.Header, again.Body)
	}
	other := h.do("PUT", "/v1/settings/dunning", backendKey, map[string]any{"default": []string{"1h"}}, "Idempotency-Key", "dunning-1")
	if other.Status != http.StatusConflict || other.ErrorCode(t) != "idempotency_key_reused" {
		t.Fatalf("same key, other body: %d %s", other.Status, other.Body)
	}
	if n := h.count("dunning_policy"); n != 1 {
		t.Fatalf("%d policy rows", n)
	}
	r = h.do("GET", "/v1/settings/dunning", supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	if string(r.Body) != string(put.Body) {
		t.Fatalf("GET after PUT\n%s\nwant\n%s", r.Body, put.Body)
	}
	// A refused PUT leaves the stored policy as it was.
	mustStatus(t, h.do("PUT", "/v1/settings/dunning", backendKey, map[string]any{"default": []string{"2h"}, "by_error_type": map[string]any{"fraud": []string{"1m"}}}), http.StatusBadRequest)
	if r := h.do("GET", "/v1/settings/dunning", supportKey, nil); string(r.Body) != string(put.Body) {
		t.Fatalf("a refused PUT changed the policy: %s", r.Body)
	}
}

// TestRunningWorkflowKeepsItsDunningPolicy: each payment workflow takes the policy in
// force when it starts (started by the API or by the worker's sweeper); a PUT afterwards
// changes the workflows started from then on, never one that is running.
func TestRunningWorkflowKeepsItsDunningPolicy(t *testing.T) {
	h := newInvoiceHarness(t)
	mustStatus(t, h.do("PUT", "/v1/settings/dunning", backendKey, map[string]any{"default": []string{"10h", "10h", "10h"},
		"by_error_type": map[string]any{"processing_error": []string{"5h", "6h"}}}), http.StatusOK)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedProcessingError")
	before := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(before, "a failed first attempt", failedAttempts(1))

	// The policy changes while the first invoice's workflow waits for its retry.
	mustStatus(t, h.do("PUT", "/v1/settings/dunning", backendKey, map[string]any{"default": []string{"10h", "10h", "10h"},
		"by_error_type": map[string]any{"processing_error": []string{"7h"}}}), http.StatusOK)
	after := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(after, "a failed first attempt", failedAttempts(1))
	// The worker's sweeper, starting an invoice whose request never started it, gives
	// its workflow the policy in force too.
	swept, err := invoices.NewService(h.pool).Create(context.Background(), invoices.CreateInput{CustomerID: cust,
		Lines: []invoices.LineInput{{Description: "Pro plan", Amount: "30.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	sw := h.sweeper()
	sw.Collection.Settings = h.srv.settings
	if res, err := sw.Sweep(context.Background()); err != nil || res.Started != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	h.waitInvoice(swept.ID, "a failed first attempt", failedAttempts(1))

	// The running workflow fails again (a manual retry): it still follows its own
	// schedule, whose second delay is 6 h; the new one follows the new: 7 h. Each has the
	// default's 4 attempts (the larger of its own schedule's and the default's, dunning.Next).
	mustStatus(t, h.do("POST", "/v1/invoices/"+before+"/retry", supportKey, nil), http.StatusOK)
	for _, c := range []struct {
		id       string
		failed   int
		delay    time.Duration
		attempts int
	}{{before, 2, 6 * time.Hour, 4}, {after, 1, 7 * time.Hour, 4}, {swept.ID, 1, 7 * time.Hour, 4}} {
		r := h.do("GET", "/v1/invoices/"+c.id+"/payment", supportKey, nil)
		mustStatus(t, r, http.StatusOK)
		var st contracts.PaymentState
		if err := json.Unmarshal(r.Body, &st); err != nil {
			t.Fatal(err)
		}
		if st.DunningRule != "processing_error" || st.FailedAttempts != c.failed || st.MaxAttempts != c.attempts || st.NextRetryAt == nil {
			t.Fatalf("%s: state %s", c.id, r.Body)
		}
		if in := time.Until(*st.NextRetryAt); in < c.delay-time.Minute || in > c.delay {
			t.Errorf("%s: next retry in %s, want %s", c.id, in, c.delay)
		}
	}
}

// TestStoredDunningPolicyOutsideTodaysBounds: a policy stored under looser bounds (here
// a 30s and a 1000h delay, a type longer than the default) is still the policy
// in force after the bounds were tightened: reads never fail on it, so collections keep
// starting; a PUT replaces it under today's bounds.
func TestStoredDunningPolicyOutsideTodaysBounds(t *testing.T) {
	h := newHarness(t)
	old := strings.Split("30s,1m,1m,1m,1m,1m,1m,1m,1000h", ",")
	if _, err := store.New(h.pool).PutDunningPolicy(context.Background(), store.PutDunningPolicyParams{DefaultSchedule: old,
		ByErrorType: []byte(`{"processing_error":["2000h"]}`), UpdatedBy: "earlier"}); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/v1/settings/dunning", supportKey, nil)
	mustStatus(t, r, http.StatusOK)
	got := r.JSON(t)
	if got["source"] != settings.SourceSettings || len(got["default"].([]any)) != 9 ||
		!reflect.DeepEqual(got["by_error_type"], map[string]any{"processing_error": []any{"2000h"}}) {
		t.Fatalf("stored policy %s", r.Body)
	}
	p, err := h.srv.settings.Policy(context.Background())
	if err != nil || len(p.Default) != 9 || p.Default[0] != 30*time.Second {
		t.Fatalf("policy in force %+v %v", p, err)
	}
}
