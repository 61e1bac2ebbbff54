package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"payorch/payments"
)

const testStripeSecret = "whsec_payorch_test"

// eventRecorder is a provider event handler that records calls and fails while failing.
type eventRecorder struct {
	mu      sync.Mutex
	events  []payments.Event
	failing bool
}

func (r *eventRecorder) HandleProviderEvent(_ context.Context, ev payments.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.failing {
		return errors.New("workflow unreachable")
	}
	return nil
}

func (r *eventRecorder) calls() []payments.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]payments.Event(nil), r.events...)
}

func (r *eventRecorder) setFailing(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = v
}

// webhookHarness is an API server with a Stripe webhook secret and an event handler.
func webhookHarness(t *testing.T, secret string, handler payments.EventHandler) *harness {
	t.Helper()
	h := newHarness(t)
	h.srv = New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StripeWebhookSecret: secret, ProviderEvents: handler})
	return h
}

// stripeEvent is a Stripe event of the given type wrapping a PaymentIntent.
func stripeEvent(id, typ, intent string) string {
	return fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2023-10-16","created":1700000000,"livemode":false,"type":%q,"data":{"object":%s}}`,
		id, typ, intent)
}

// signed returns the Stripe-Signature header for payload signed with secret at time at.
func signed(payload, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: []byte(payload), Secret: secret, Timestamp: at}).Header
}

func (h *harness) stripeWebhook(payload, sig string) response {
	h.t.Helper()
	if sig == "" {
		return h.do("POST", "/v1/providers/stripe/webhooks", "", payload)
	}
	return h.do("POST", "/v1/providers/stripe/webhooks", "", payload, "Stripe-Signature", sig)
}

const succeededIntent = `{"id":"pi_ok_1","object":"payment_intent","status":"succeeded","amount":1250,"currency":"eur","metadata":{"invoice_id":"inv_123","attempt":"2"}}`

// TestStripeWebhookSignature: a correctly signed event is processed without any bearer
// key; tampered, unsigned, wrongly signed and stale deliveries are 400 invalid_signature
// and reach nothing.
func TestStripeWebhookSignature(t *testing.T) {
	rec := &eventRecorder{}
	h := webhookHarness(t, testStripeSecret, rec)
	payload := stripeEvent("evt_sig_1", "payment_intent.succeeded", succeededIntent)

	rejected := map[string]response{
		"tampered":     h.stripeWebhook(payload[:len(payload)-1]+" }", signed(payload, testStripeSecret, time.Now())),
		"missing":      h.stripeWebhook(payload, ""),
		"garbage":      h.stripeWebhook(payload, "not-a-signature"),
		"wrong secret": h.stripeWebhook(payload, signed(payload, "whsec_someone_else", time.Now())),
		"stale":        h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now().Add(-10*time.Minute))),
	}
	for name, r := range rejected {
		mustStatus(t, r, http.StatusBadRequest)
		if code := r.ErrorCode(t); code != "invalid_signature" {
			t.Errorf("%s: code %s, want invalid_signature", name, code)
		}
	}
	if n := len(rec.calls()); n != 0 || h.count("provider_events") != 0 {
		t.Fatalf("rejected deliveries reached the handler (%d calls) or were recorded", n)
	}

	r := h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusOK)
	if body := r.JSON(t); body["status"] != "processed" || body["event_id"] != "evt_sig_1" || body["received"] != true {
		t.Fatalf("body %s", r.Body)
	}
	calls := rec.calls()
	if len(calls) != 1 {
		t.Fatalf("%d handler calls, want 1", len(calls))
	}
	ev := calls[0]
	if ev.ID != "evt_sig_1" || ev.Provider != payments.StripeProviderName || ev.Reference != "pi_ok_1" ||
		ev.Status != payments.StatusSettled || ev.Metadata["invoice_id"] != "inv_123" {
		t.Fatalf("event %+v", ev)
	}
	var processed bool
	if err := h.pool.QueryRow(context.Background(),
		"SELECT processed_at IS NOT NULL FROM provider_events WHERE provider = 'stripe' AND event_id = 'evt_sig_1' AND reference = 'pi_ok_1'").
		Scan(&processed); err != nil || !processed {
		t.Fatalf("provider_events row: processed %v, %v", processed, err)
	}
}

// TestStripeWebhookReplayIgnored: a replayed event id is acknowledged without calling the
// handler again, also when the deliveries race.
func TestStripeWebhookReplayIgnored(t *testing.T) {
	rec := &eventRecorder{}
	h := webhookHarness(t, testStripeSecret, rec)
	failed := `{"id":"pi_fail_1","object":"payment_intent","status":"requires_payment_method","last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`
	payload := stripeEvent("evt_replay_1", "payment_intent.payment_failed", failed)
	for i, want := range []string{"processed", "duplicate", "duplicate"} {
		r := h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
		mustStatus(t, r, http.StatusOK)
		if got := r.JSON(t)["status"]; got != want {
			t.Fatalf("delivery %d: status %v, want %s", i+1, got, want)
		}
	}
	calls := rec.calls()
	if len(calls) != 1 {
		t.Fatalf("handler called %d times for one event", len(calls))
	}
	if ev := calls[0]; ev.Status != payments.StatusFailed || ev.ErrorType != payments.ErrPaymentMethodDeclined ||
		ev.DeclineCode != "insufficient_funds" || ev.Reference != "pi_fail_1" {
		t.Fatalf("event %+v", ev)
	}

	// Ten simultaneous deliveries of a new event: one handler call, all acknowledged.
	race := stripeEvent("evt_race_1", "payment_intent.processing", `{"id":"pi_race","object":"payment_intent","status":"processing"}`)
	var wg sync.WaitGroup
	statuses := make([]int, 10)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.stripeWebhook(race, signed(race, testStripeSecret, time.Now())).Status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("racing delivery %d: status %d", i, s)
		}
	}
	n := 0
	for _, ev := range rec.calls() {
		if ev.ID == "evt_race_1" {
			n++
			if ev.Status != payments.StatusPending {
				t.Fatalf("processing event %+v", ev)
			}
		}
	}
	if n != 1 || h.count("provider_events") != 2 {
		t.Fatalf("racing deliveries: %d handler calls, %d recorded events", n, h.count("provider_events"))
	}
}

// TestStripeWebhookHandlerErrorThenRetry: when the handler fails the delivery is a 500
// and nothing is recorded, so Stripe's retry processes the event; then it is a duplicate.
func TestStripeWebhookHandlerErrorThenRetry(t *testing.T) {
	rec := &eventRecorder{failing: true}
	h := webhookHarness(t, testStripeSecret, rec)
	payload := stripeEvent("evt_retry_1", "payment_intent.succeeded", succeededIntent)

	r := h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusInternalServerError)
	if code := r.ErrorCode(t); code != "event_processing_failed" {
		t.Fatalf("code %s", code)
	}
	if h.count("provider_events") != 0 {
		t.Fatal("a failed event was recorded as processed")
	}

	rec.setFailing(false)
	r = h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusOK)
	if got := r.JSON(t)["status"]; got != "processed" {
		t.Fatalf("retry: status %v", got)
	}
	r = h.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusOK)
	if got := r.JSON(t)["status"]; got != "duplicate" {
		t.Fatalf("third delivery: status %v", got)
	}
	if n := len(rec.calls()); n != 2 {
		t.Fatalf("handler called %d times, want 2 (the failure and the retry)", n)
	}
}

// TestStripeWebhookIgnoredAndUnconfigured: other event types are acknowledged and ignored;
// without a secret or a handler the endpoint answers 503 so Stripe keeps the event.
func TestStripeWebhookIgnoredAndUnconfigured(t *testing.T) {
	rec := &eventRecorder{}
	h := webhookHarness(t, testStripeSecret, rec)
	other := `{"id":"evt_cus_1","object":"event","api_version":"2023-10-16","created":1700000000,"livemode":false,"type":"customer.created","data":{"object":{"id":"cus_1","object":"customer"}}}`
	r := h.stripeWebhook(other, signed(other, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusOK)
	if got := r.JSON(t)["status"]; got != "ignored" {
		t.Fatalf("status %v", got)
	}
	if len(rec.calls()) != 0 || h.count("provider_events") != 0 {
		t.Fatal("an ignored event type reached the handler or was recorded")
	}
	bad := `{"id":"evt_bad","object":"event","type":"payment_intent.succeeded","data":{"object":{"object":"payment_intent"}}}`
	r = h.stripeWebhook(bad, signed(bad, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusBadRequest)
	if code := r.ErrorCode(t); code != "invalid_event" {
		t.Fatalf("event without a payment intent id: %s", code)
	}

	payload := stripeEvent("evt_cfg_1", "payment_intent.succeeded", succeededIntent)
	noSecret := webhookHarness(t, "", rec)
	r = noSecret.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusServiceUnavailable)
	if code := r.ErrorCode(t); code != "stripe_webhooks_not_configured" {
		t.Fatalf("no secret: %s", code)
	}
	noHandler := webhookHarness(t, testStripeSecret, nil)
	r = noHandler.stripeWebhook(payload, signed(payload, testStripeSecret, time.Now()))
	mustStatus(t, r, http.StatusServiceUnavailable)
	if code := r.ErrorCode(t); code != "provider_events_unavailable" {
		t.Fatalf("no handler: %s", code)
	}
	if len(rec.calls()) != 0 {
		t.Fatal("an unconfigured server called a handler")
	}
}
