package payments

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

const testWebhookSecret = "whsec_test_secret"

// eventJSON builds a Stripe event wrapping a PaymentIntent object. The API version is
// deliberately not stripe-go's: ParseStripeEvent must not care.
func eventJSON(id, typ, intent string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2020-08-27","created":1700000000,"livemode":false,"type":%q,"data":{"object":%s}}`,
		id, typ, intent))
}

func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}

func TestParseStripeEventAccepted(t *testing.T) {
	meta := map[string]string{"invoice_id": "inv_123", "attempt": "2"}
	cases := []struct {
		name   string
		typ    string
		intent string
		want   Event
	}{
		{"succeeded", "payment_intent.succeeded",
			`{"id":"pi_1","object":"payment_intent","status":"succeeded","metadata":{"invoice_id":"inv_123","attempt":"2"}}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_1", Status: StatusSettled, Metadata: meta}},
		{"processing", "payment_intent.processing",
			`{"id":"pi_2","object":"payment_intent","status":"processing","metadata":{"invoice_id":"inv_123","attempt":"2"}}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_2", Status: StatusPending, Metadata: meta}},
		{"payment_failed insufficient_funds", "payment_intent.payment_failed",
			`{"id":"pi_3","object":"payment_intent","status":"requires_payment_method","metadata":{"invoice_id":"inv_123","attempt":"2"},
			  "last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_3", Status: StatusFailed, Metadata: meta,
				ErrorType: ErrPaymentMethodDeclined, ProviderCode: "card_declined", DeclineCode: "insufficient_funds",
				Message: "Your card has insufficient funds."}},
		{"payment_failed expired_card", "payment_intent.payment_failed",
			`{"id":"pi_4","object":"payment_intent","status":"requires_payment_method","metadata":{},
			  "last_payment_error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_4", Status: StatusFailed,
				ErrorType: ErrPaymentMethodExpired, HardDecline: true, ProviderCode: "expired_card",
				Message: "Your card has expired."}},
		{"payment_failed without last_payment_error", "payment_intent.payment_failed",
			`{"id":"pi_5","object":"payment_intent","status":"requires_payment_method"}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_5", Status: StatusFailed, ErrorType: ErrUnknown}},
		{"charge.dispute.funds_withdrawn: a chargeback reverses the payment", "charge.dispute.funds_withdrawn",
			`{"id":"dp_1","object":"dispute","amount":5000,"currency":"eur","charge":"ch_1","payment_intent":"pi_6","reason":"fraudulent","status":"needs_response"}`,
			Event{ID: "evt_1", Provider: "stripe", Reference: "pi_6", Status: StatusReversed, ProviderCode: "dispute_fraudulent",
				Message: "the customer disputed the payment (fraudulent)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := eventJSON("evt_1", c.typ, c.intent)
			ev, ok, err := ParseStripeEvent(payload, sign(payload, testWebhookSecret, time.Now()), testWebhookSecret)
			if err != nil || !ok {
				t.Fatalf("ParseStripeEvent = (%v, %v), want accepted", ok, err)
			}
			if !reflect.DeepEqual(ev, c.want) {
				t.Fatalf("event =\n  %+v\nwant\n  %+v", ev, c.want)
			}
		})
	}
}

func TestParseStripeEventIgnoresOtherTypes(t *testing.T) {
	for _, typ := range []string{"payment_intent.created", "payment_intent.canceled", "charge.succeeded", "customer.updated",
		// A dispute opened (an inquiry withdraws nothing) or won: no money moved by it here.
		"charge.dispute.created", "charge.dispute.funds_reinstated"} {
		t.Run(typ, func(t *testing.T) {
			payload := eventJSON("evt_2", typ, `{"id":"pi_1","object":"payment_intent","status":"succeeded"}`)
			ev, ok, err := ParseStripeEvent(payload, sign(payload, testWebhookSecret, time.Now()), testWebhookSecret)
			if err != nil || ok || !reflect.DeepEqual(ev, Event{}) {
				t.Fatalf("ParseStripeEvent = (%+v, %v, %v), want ignored", ev, ok, err)
			}
		})
	}
}

func TestParseStripeEventBadSignature(t *testing.T) {
	payload := eventJSON("evt_3", "payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent","status":"succeeded"}`)
	good := sign(payload, testWebhookSecret, time.Now())
	tampered := []byte(strings.Replace(string(payload), "pi_1", "pi_2", 1))
	// Flip the last hex digit of the signature.
	last := good[len(good)-1]
	flipped := byte('0')
	if last == '0' {
		flipped = '1'
	}
	badSig := good[:len(good)-1] + string(flipped)

	cases := []struct {
		name    string
		payload []byte
		header  string
	}{
		{"missing header", payload, ""},
		{"malformed header", payload, "garbage"},
		{"tampered signature", payload, badSig},
		{"tampered payload", tampered, good},
		{"wrong secret", payload, sign(payload, "whsec_other", time.Now())},
		{"too old", payload, sign(payload, testWebhookSecret, time.Now().Add(-time.Hour))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, ok, err := ParseStripeEvent(c.payload, c.header, testWebhookSecret)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
			if ok || !reflect.DeepEqual(ev, Event{}) {
				t.Errorf("rejected event returned (%+v, %v)", ev, ok)
			}
		})
	}
}

func TestParseStripeEventNeedsSecret(t *testing.T) {
	payload := eventJSON("evt_4", "payment_intent.succeeded", `{"id":"pi_1","object":"payment_intent","status":"succeeded"}`)
	_, ok, err := ParseStripeEvent(payload, sign(payload, "", time.Now()), "")
	if err == nil || ok {
		t.Fatalf("an empty signing secret was accepted (ok=%v, err=%v)", ok, err)
	}
}

func TestParseStripeEventSignedGarbage(t *testing.T) {
	payload := []byte(`{"id":"evt_5","object":"event","type":"payment_intent.succeeded","data":{"object":{"object":"payment_intent"}}}`)
	_, ok, err := ParseStripeEvent(payload, sign(payload, testWebhookSecret, time.Now()), testWebhookSecret)
	if err == nil || ok || errors.Is(err, ErrBadSignature) {
		t.Fatalf("signed event without a payment intent id: (ok=%v, err=%v), want a non-signature error", ok, err)
	}
	payload = []byte(`not json`)
	_, _, err = ParseStripeEvent(payload, sign(payload, testWebhookSecret, time.Now()), testWebhookSecret)
	if err == nil || errors.Is(err, ErrBadSignature) {
		t.Fatalf("signed non-JSON payload: err = %v, want a non-signature error", err)
	}
}
