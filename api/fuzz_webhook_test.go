package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"payorch/payments"
)

// fuzzStripeSecret is the Stripe webhook secret of the fuzz server.
const fuzzStripeSecret = "whsec_fuzz"

const stripeWebhookPath = "/v1/providers/stripe/webhooks"

// How FuzzStripeWebhook signs a payload (the first argument, modulo stripeSigModes).
const (
	sigNone     = iota // no Stripe-Signature header
	sigValid           // signed now with the server's secret: parsing beyond the signature is reached
	sigWrongKey        // signed with another secret
	sigStale           // signed with the secret ten minutes ago (beyond Stripe's tolerance)
	sigRaw             // the fuzzer's own header (the header parser)
	stripeSigModes
)

// guardCodes are the codes of the guard's 400 refusals (before any handler): poison, a
// body that is not JSON text.
var guardCodes = map[string]bool{"parameter_invalid": true, "body_invalid": true}

// refusedAs reports whether r is the route's own refusal (a 400 with code want) or the
// guard's (400, or 413 for a body over the limit).
func refusedAs(r response, code, want string) bool {
	if code == codeBodyTooLarge {
		return r.Status == http.StatusRequestEntityTooLarge
	}
	return r.Status == http.StatusBadRequest && (code == want || guardCodes[code])
}

// tableRows parses fuzzServer.rows ("table=n table=n ...").
func tableRows(t *testing.T, s string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, f := range strings.Fields(s) {
		name, n, ok := strings.Cut(f, "=")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("rows %q", s)
		}
		out[name] = v
	}
	return out
}

// FuzzStripeWebhook sends arbitrary payloads to the Stripe webhook route, unsigned, signed
// with the server's secret (so that the event parsing and handling behind the signature
// are reached), signed with another secret or too long ago, or with an arbitrary
// Stripe-Signature header. The handler behind is the one the processes wire (wallet loads,
// then the invoices' workflows). Properties: no 5xx; anything not validly signed is a 400
// that wrote nothing (invalid_signature, or the guard's refusal of poison); a validly
// signed payload is a 400 invalid_event that wrote nothing, 200 ignored or duplicate that
// wrote nothing, or 200 processed that wrote exactly its provider_events row; and a signed
// event the parser accepts is processed (200) under its own id.
func FuzzStripeWebhook(f *testing.F) {
	fs := newFuzzServer(f)
	intent := func(extra string) string {
		return `{"id":"pi_fuzz_1","object":"payment_intent","amount":1250,"currency":"eur"` + extra + `}`
	}
	seeds := []string{
		stripeEvent("evt_f1", "payment_intent.succeeded", intent("")),
		stripeEvent("evt_f2", "payment_intent.processing", intent(`,"metadata":{"invoice_id":"inv_unknown"}`)),
		stripeEvent("evt_f3", "payment_intent.payment_failed", intent(`,"last_payment_error":{"code":"card_declined","decline_code":"fraudulent","message":"no"}`)),
		stripeEvent("evt_f4", "payment_intent.succeeded", intent(`,"metadata":{"load_id":"wld_unknown"}`)),
		stripeEvent("evt_f5", "payment_intent.succeeded", intent(`,"metadata":{"invoice_id":"inv_unknown","purpose":"portal_authentication","amount":"12.50"}`)),
		stripeEvent("evt_f6", "charge.succeeded", `{"id":"ch_1","object":"charge"}`),
		stripeEvent("evt_f7", "payment_intent.succeeded", `{"object":"payment_intent"}`),
		stripeEvent("evt_f8", "payment_intent.succeeded", `[]`),
		`{"id":"evt_f9","object":"event","type":"payment_intent.succeeded"}`,
		`{"id":"evt_f10","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x","amount":"12"}}}`,
		`{}`, `[]`, `null`, `{"id":1}`, ``, `not json`, "{\"id\":\"evt\xff\"}", `{"id":"evt\u0000"}`,
	}
	for _, p := range seeds {
		for mode := uint8(0); mode < stripeSigModes; mode++ {
			f.Add(mode, p, "")
		}
	}
	for _, h := range []string{"t=1,v1=00", "t=,v1=", "v1=" + strings.Repeat("a", 64), "t=99999999999999999999,v1=ab", "t=-1,v0=x,v1=y", ",,,=,="} {
		f.Add(uint8(sigRaw), seeds[0], h)
	}

	f.Fuzz(func(t *testing.T, mode uint8, payload, header string) {
		mode %= stripeSigModes
		sig := ""
		switch mode {
		case sigValid:
			sig = signed(payload, fuzzStripeSecret, time.Now())
		case sigWrongKey:
			sig = signed(payload, "whsec_someone_else", time.Now())
		case sigStale:
			sig = signed(payload, fuzzStripeSecret, time.Now().Add(-10*time.Minute))
		case sigRaw:
			sig = header
		}
		what := fmt.Sprintf("mode %d signature %q payload %q", mode, sig, payload)
		before := fs.rows(t)
		// The provider authenticates with its signature only: no bearer key.
		r := fs.send(http.MethodPost, stripeWebhookPath, payload, map[string]string{"Authorization": "", "Stripe-Signature": sig})
		code := fs.checkRefusal(t, what, r, before)
		if mode != sigValid {
			if !refusedAs(r, code, "invalid_signature") {
				t.Fatalf("%s: not validly signed, answered %d %s, want 400 invalid_signature: %s", what, r.Status, code, r.Body)
			}
			return
		}
		if r.Status >= 300 {
			if !refusedAs(r, code, "invalid_event") {
				t.Fatalf("%s: signed, refused with %d %s, want 400 invalid_event: %s", what, r.Status, code, r.Body)
			}
			return
		}
		if r.Status != http.StatusOK {
			t.Fatalf("%s: signed, answered %d: %s", what, r.Status, r.Body)
		}
		var out StripeWebhookResponse
		if err := json.Unmarshal(r.Body, &out); err != nil || !out.Received {
			t.Fatalf("%s: answer %s", what, r.Body)
		}
		if out.Status != "ignored" && out.EventID == "" {
			// An event without an id cannot be told from another: the second would be
			// taken for a duplicate of the first.
			t.Fatalf("%s: %s an event without an id: %s", what, out.Status, r.Body)
		}
		want := tableRows(t, before)
		if out.Status == "processed" {
			want["provider_events"]++
		} else if out.Status != "ignored" && out.Status != "duplicate" {
			t.Fatalf("%s: status %q", what, out.Status)
		}
		if got := tableRows(t, fs.rows(t)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: %s, but rows\nwant %v\ngot  %v", what, out.Status, want, got)
		}
		ev, ok, err := payments.ParseStripeEvent([]byte(payload), sig, fuzzStripeSecret)
		if err == nil && ok && (out.EventID != ev.ID || out.Status == "ignored") {
			t.Fatalf("%s: the parser reads event %q of %s, but the route answered %s", what, ev.ID, ev.Reference, r.Body)
		}
		if out.Status == "processed" {
			var processed bool
			if err := fs.pool.QueryRow(context.Background(),
				"SELECT processed_at IS NOT NULL FROM provider_events WHERE provider = 'stripe' AND event_id = $1", out.EventID).Scan(&processed); err != nil || !processed {
				t.Fatalf("%s: processed, but provider_events has %v, %v", what, processed, err)
			}
		}
	})
}
