package payments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stripe/stripe-go/v76"

	"payorch/money"
)

// fakeStripe is a loopback HTTP server that answers every request with a canned status
// and body, and records what it received.
type fakeStripe struct {
	srv *httptest.Server

	mu       sync.Mutex
	status   int
	body     string
	delay    time.Duration
	requests []recordedRequest
}

type recordedRequest struct {
	method, path string
	header       http.Header
	form         url.Values
}

func newFakeStripe(t *testing.T, status int, body string) *fakeStripe {
	t.Helper()
	f := &fakeStripe{status: status, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			t.Errorf("request body is not form-encoded: %v", err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Clone(), form})
		status, body, delay := f.status, f.body, f.delay
		f.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if strings.HasPrefix(strings.TrimSpace(body), "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Request-Id", "req_test")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStripe) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

func (f *fakeStripe) recorded(t *testing.T) []recordedRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

// only returns the single request the server received, failing if there were others
// (stripe-go must not retry behind our back).
func (f *fakeStripe) only(t *testing.T) recordedRequest {
	t.Helper()
	reqs := f.recorded(t)
	if len(reqs) != 1 {
		t.Fatalf("fake Stripe received %d requests, want exactly 1", len(reqs))
	}
	return reqs[0]
}

func newTestStripe(t *testing.T, baseURL string) *Stripe {
	t.Helper()
	s, err := NewStripe(StripeConfig{SecretKey: "sk_test_123", BaseURL: baseURL})
	if err != nil {
		t.Fatalf("NewStripe: %v", err)
	}
	return s
}

func testCharge(amount, currency string) ChargeRequest {
	return ChargeRequest{
		IdempotencyKey:   "inv_123:attempt:2",
		CustomerRef:      "cus_123",
		PaymentMethodRef: "pm_card_visa",
		Amount:           decimal.RequireFromString(amount),
		Currency:         currency,
		Description:      "Invoice INV-0001",
		Metadata:         map[string]string{"invoice_id": "inv_123", "attempt": "2"},
	}
}

func intentJSON(id, status string) string {
	return fmt.Sprintf(`{"id":%q,"object":"payment_intent","amount":1250,"currency":"eur","status":%q,"metadata":{"invoice_id":"inv_123"}}`, id, status)
}

func cardErrorJSON(code, declineCode, msg string) string {
	dc := ""
	if declineCode != "" {
		dc = fmt.Sprintf(`"decline_code":%q,`, declineCode)
	}
	return fmt.Sprintf(`{"error":{"type":"card_error","code":%q,%s"message":%q,"doc_url":"https://stripe.com/docs/error-codes/%s","payment_intent":{"id":"pi_123","object":"payment_intent","status":"requires_payment_method"}}}`,
		code, dc, msg, code)
}

func TestNewStripeRequiresKey(t *testing.T) {
	if _, err := NewStripe(StripeConfig{}); err == nil {
		t.Fatal("NewStripe without a secret key succeeded")
	}
}

func TestStripeName(t *testing.T) {
	s := newTestStripe(t, "http://127.0.0.1:1")
	if s.Name() != "stripe" {
		t.Fatalf("Name() = %q", s.Name())
	}
}

func TestStripeChargeRequestEncoding(t *testing.T) {
	cases := []struct {
		amount, currency   string
		wantAmount, wantCu string
	}{
		{"12.50", "EUR", "1250", "eur"},
		{"12.5", "eur", "1250", "eur"},
		{"1000", "JPY", "1000", "jpy"},
		{"1.234", "KWD", "1234", "kwd"},
		{"0.01", "USD", "1", "usd"},
	}
	for _, c := range cases {
		t.Run(c.amount+"_"+c.currency, func(t *testing.T) {
			f := newFakeStripe(t, 200, intentJSON("pi_ok", "succeeded"))
			s := newTestStripe(t, f.srv.URL)
			res, err := s.Charge(context.Background(), testCharge(c.amount, c.currency))
			if err != nil {
				t.Fatalf("Charge: %v", err)
			}
			if res.Status != StatusSettled || res.Reference != "pi_ok" {
				t.Fatalf("result = %+v, want settled pi_ok", res)
			}
			r := f.only(t)
			if r.method != http.MethodPost || r.path != "/v1/payment_intents" {
				t.Errorf("request = %s %s, want POST /v1/payment_intents", r.method, r.path)
			}
			want := map[string]string{
				"amount":                             c.wantAmount,
				"currency":                           c.wantCu,
				"confirm":                            "true",
				"off_session":                        "true",
				"payment_method":                     "pm_card_visa",
				"customer":                           "cus_123",
				"description":                        "Invoice INV-0001",
				"metadata[invoice_id]":               "inv_123",
				"metadata[attempt]":                  "2",
				"automatic_payment_methods[enabled]": "true",
				"automatic_payment_methods[allow_redirects]": "never",
			}
			for k, v := range want {
				if got := r.form.Get(k); got != v {
					t.Errorf("form %s = %q, want %q", k, got, v)
				}
			}
			if got := r.header.Get("Idempotency-Key"); got != "inv_123:attempt:2" {
				t.Errorf("Idempotency-Key = %q", got)
			}
			if got := r.header.Get("Authorization"); got != "Bearer sk_test_123" {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}

func TestStripeChargeOmitsEmptyOptionalFields(t *testing.T) {
	f := newFakeStripe(t, 200, intentJSON("pi_ok", "succeeded"))
	s := newTestStripe(t, f.srv.URL)
	req := testCharge("10", "EUR")
	req.CustomerRef, req.Description, req.Metadata = "", "", nil
	if _, err := s.Charge(context.Background(), req); err != nil {
		t.Fatalf("Charge: %v", err)
	}
	r := f.only(t)
	for _, k := range []string{"customer", "description"} {
		if _, ok := r.form[k]; ok {
			t.Errorf("form has %s although the request left it empty", k)
		}
	}
}

func TestStripeChargeRejectsBadRequestsLocally(t *testing.T) {
	f := newFakeStripe(t, 200, intentJSON("pi_ok", "succeeded"))
	s := newTestStripe(t, f.srv.URL)
	cases := []struct {
		name   string
		mutate func(*ChargeRequest)
		also   error
	}{
		{"not exact EUR", func(r *ChargeRequest) { r.Amount = decimal.RequireFromString("12.505") }, money.ErrNotExact},
		{"not exact JPY", func(r *ChargeRequest) { r.Amount, r.Currency = decimal.RequireFromString("10.5"), "JPY" }, money.ErrNotExact},
		{"unknown currency", func(r *ChargeRequest) { r.Currency = "XXX" }, money.ErrUnknownCurrency},
		{"zero amount", func(r *ChargeRequest) { r.Amount = decimal.Zero }, nil},
		{"negative amount", func(r *ChargeRequest) { r.Amount = decimal.RequireFromString("-1") }, nil},
		{"no idempotency key", func(r *ChargeRequest) { r.IdempotencyKey = " " }, nil},
		{"no payment method", func(r *ChargeRequest) { r.PaymentMethodRef = "" }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := testCharge("12.50", "EUR")
			c.mutate(&req)
			_, err := s.Charge(context.Background(), req)
			if !errors.Is(err, ErrInvalidChargeRequest) {
				t.Fatalf("err = %v, want ErrInvalidChargeRequest", err)
			}
			if c.also != nil && !errors.Is(err, c.also) {
				t.Errorf("err = %v, want it to wrap %v", err, c.also)
			}
			if IsProviderError(err) {
				t.Errorf("a locally rejected request must not be a *ProviderError: %v", err)
			}
		})
	}
	if n := len(f.recorded(t)); n != 0 {
		t.Fatalf("fake Stripe received %d requests for invalid charges", n)
	}
}

func TestStripeChargeIntentStatuses(t *testing.T) {
	cases := []struct {
		name, body string
		want       ChargeResult
	}{
		{"succeeded", intentJSON("pi_1", "succeeded"), ChargeResult{Status: StatusSettled, Reference: "pi_1"}},
		{"processing", intentJSON("pi_2", "processing"), ChargeResult{Status: StatusPending, Reference: "pi_2"}},
		{"requires_action", intentJSON("pi_3", "requires_action"), ChargeResult{
			Status: StatusFailed, Reference: "pi_3", ErrorType: ErrAuthenticationRequired, HardDecline: true,
			Message: "payment requires customer action (e.g. 3-D Secure authentication)"}},
		{"canceled", `{"id":"pi_4","object":"payment_intent","status":"canceled","cancellation_reason":"automatic"}`, ChargeResult{
			Status: StatusFailed, Reference: "pi_4", ErrorType: ErrUnknown, Message: "payment intent canceled: automatic"}},
		{"requires_payment_method with last_payment_error",
			`{"id":"pi_5","object":"payment_intent","status":"requires_payment_method","last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			ChargeResult{Status: StatusFailed, Reference: "pi_5", ErrorType: ErrPaymentMethodDeclined,
				ProviderCode: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."}},
		{"requires_payment_method without error", intentJSON("pi_6", "requires_payment_method"), ChargeResult{
			Status: StatusFailed, Reference: "pi_6", ErrorType: ErrUnknown, Message: "payment intent requires a new payment method"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeStripe(t, 200, c.body)
			res, err := newTestStripe(t, f.srv.URL).Charge(context.Background(), testCharge("12.50", "EUR"))
			if err != nil {
				t.Fatalf("Charge: %v", err)
			}
			if res != c.want {
				t.Fatalf("result =\n  %+v\nwant\n  %+v", res, c.want)
			}
		})
	}
}

func TestStripeChargeUnexpectedIntentStatusIsNonRetryable(t *testing.T) {
	for _, st := range []string{"requires_capture", "requires_confirmation", "something_new"} {
		t.Run(st, func(t *testing.T) {
			f := newFakeStripe(t, 200, intentJSON("pi_x", st))
			_, err := newTestStripe(t, f.srv.URL).Charge(context.Background(), testCharge("12.50", "EUR"))
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ProviderError", err)
			}
			if pe.Retryable {
				t.Errorf("unexpected status %s must not be retryable", st)
			}
			if !strings.Contains(pe.Error(), "pi_x") {
				t.Errorf("error %q does not name the payment intent", pe.Error())
			}
		})
	}
}

func TestStripeChargeDeclines(t *testing.T) {
	cases := []struct {
		code, decline string
		typ           ErrorType
		hard          bool
	}{
		{"card_declined", "insufficient_funds", ErrPaymentMethodDeclined, false},
		{"card_declined", "lost_card", ErrPaymentMethodDeclined, true},
		{"card_declined", "stolen_card", ErrPaymentMethodDeclined, true},
		{"card_declined", "generic_decline", ErrDeclined, false},
		{"card_declined", "do_not_try_again", ErrDeclined, true},
		{"card_declined", "fraudulent", ErrFraud, true},
		{"card_declined", "authentication_required", ErrAuthenticationRequired, true},
		{"card_declined", "issuer_not_available", ErrPaymentMethodAuthorizationError, false},
		{"card_declined", "try_again_later", ErrProcessingError, false},
		{"card_declined", "currency_not_supported", ErrPaymentMethodNotSupported, true},
		{"card_declined", "", ErrDeclined, false},
		{"expired_card", "", ErrPaymentMethodExpired, true},
		{"incorrect_cvc", "", ErrPaymentMethodInvalid, true},
		{"processing_error", "", ErrProcessingError, false},
		{"authentication_required", "authentication_required", ErrAuthenticationRequired, true},
		{"brand_new_card_error", "", ErrUnknown, false},
	}
	for _, c := range cases {
		t.Run(c.code+"/"+c.decline, func(t *testing.T) {
			msg := "Your card was declined (" + c.code + ")."
			f := newFakeStripe(t, http.StatusPaymentRequired, cardErrorJSON(c.code, c.decline, msg))
			res, err := newTestStripe(t, f.srv.URL).Charge(context.Background(), testCharge("12.50", "EUR"))
			if err != nil {
				t.Fatalf("a decline must be a result, not an error: %v", err)
			}
			want := ChargeResult{
				Status: StatusFailed, Reference: "pi_123", ErrorType: c.typ, HardDecline: c.hard,
				ProviderCode: c.code, DeclineCode: c.decline, Message: msg,
			}
			if res != want {
				t.Fatalf("result =\n  %+v\nwant\n  %+v", res, want)
			}
			f.only(t)
		})
	}
}

func TestStripeChargeInfrastructureErrors(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		code      string
		retryable bool
	}{
		{"500 api_error", 500, `{"error":{"type":"api_error","message":"Sorry, something went wrong."}}`, "", true},
		{"503 api_error", 503, `{"error":{"type":"api_error","message":"Service unavailable."}}`, "", true},
		{"502 html from a proxy", 502, `<html><body>Bad Gateway</body></html>`, "", true},
		{"429 rate_limit", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests."}}`, "rate_limit", true},
		{"429 lock_timeout", 429, `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"This object cannot be accessed right now."}}`, "lock_timeout", true},
		{"409 idempotency_key_in_use", 409, `{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"There is currently another in-progress request using this Idempotent Key."}}`, "idempotency_key_in_use", true},
		{"401 authentication_error", 401, `{"error":{"type":"authentication_error","message":"Invalid API Key provided: sk_test_***123"}}`, "", false},
		{"401 invalid_request_error (as Stripe sends it)", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_***123"}}`, "", false},
		{"401 html", 401, `Unauthorized`, "", false},
		{"403 permission_error", 403, `{"error":{"type":"invalid_request_error","code":"secret_key_required","message":"The provided key does not have the required permissions."}}`, "secret_key_required", false},
		{"400 invalid_request_error", 400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least €0.50 eur"}}`, "amount_too_small", false},
		{"404 resource_missing", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"payment_method","message":"No such PaymentMethod: 'pm_nope'"}}`, "resource_missing", false},
		{"400 idempotency_error", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeStripe(t, c.status, c.body)
			res, err := newTestStripe(t, f.srv.URL).Charge(context.Background(), testCharge("12.50", "EUR"))
			var pe *ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (result %+v), want *ProviderError", err, res)
			}
			if res != (ChargeResult{}) {
				t.Errorf("result = %+v alongside an error, want zero", res)
			}
			if pe.Provider != "stripe" || pe.HTTPStatus != c.status || pe.Code != c.code || pe.Retryable != c.retryable {
				t.Errorf("ProviderError = {Provider:%s HTTPStatus:%d Code:%q Retryable:%v}, want {stripe %d %q %v}",
					pe.Provider, pe.HTTPStatus, pe.Code, pe.Retryable, c.status, c.code, c.retryable)
			}
			var se *stripe.Error
			if strings.HasPrefix(c.body, "{") && !errors.As(err, &se) {
				t.Errorf("the *stripe.Error is not reachable with errors.As: %v", err)
			}
			if strings.Contains(err.Error(), "payment_intent") && strings.Contains(err.Error(), "client_secret") {
				t.Errorf("error message dumps the payment intent: %s", err.Error())
			}
			f.only(t) // stripe-go must not retry on its own
		})
	}
}

func TestStripeChargeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more

	_, err = newTestStripe(t, "http://"+addr).Charge(context.Background(), testCharge("12.50", "EUR"))
	var pe *ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ProviderError", err)
	}
	if !pe.Retryable || pe.HTTPStatus != 0 {
		t.Errorf("ProviderError = %+v, want retryable with HTTPStatus 0", pe)
	}
}

func TestStripeChargeTimeoutAndCancel(t *testing.T) {
	t.Run("client timeout", func(t *testing.T) {
		f := newFakeStripe(t, 200, intentJSON("pi_slow", "succeeded"))
		f.setDelay(2 * time.Second)
		s, err := NewStripe(StripeConfig{SecretKey: "sk_test_123", BaseURL: f.srv.URL,
			HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Charge(context.Background(), testCharge("12.50", "EUR"))
		var pe *ProviderError
		if !errors.As(err, &pe) || !pe.Retryable {
			t.Fatalf("err = %v, want retryable *ProviderError", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		f := newFakeStripe(t, 200, intentJSON("pi_slow", "succeeded"))
		f.setDelay(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := newTestStripe(t, f.srv.URL).Charge(ctx, testCharge("12.50", "EUR"))
		var pe *ProviderError
		if !errors.As(err, &pe) || !pe.Retryable {
			t.Fatalf("err = %v, want retryable *ProviderError", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
	})
}
