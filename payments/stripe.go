package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"payorch/money"
)

// StripeProviderName is the name of the Stripe provider (Provider.Name, Event.Provider).
const StripeProviderName = "stripe"

// DefaultStripeTimeout bounds one Stripe API call when StripeConfig.HTTPClient is nil. A
// timed-out charge is a retryable *ProviderError; repeating it with the same idempotency
// key returns the first outcome and never charges twice.
const DefaultStripeTimeout = 30 * time.Second

// ErrInvalidChargeRequest is wrapped by the plain (non-*ProviderError) error Charge returns
// when the request is rejected before anything is sent: missing idempotency key or
// payment method, unknown currency, non-positive amount, or an amount that is not an
// exact number of minor units (then the error also wraps money.ErrNotExact or
// money.ErrUnknownCurrency). Such a request is a bug in the caller: retrying cannot help.
var ErrInvalidChargeRequest = errors.New("invalid charge request")

// ErrBadSignature is wrapped by the error ParseStripeEvent returns when the
// Stripe-Signature header is missing, malformed, does not match the payload, or is older
// than the tolerance (5 minutes). The HTTP handler should answer 400.
var ErrBadSignature = errors.New("bad stripe webhook signature")

// StripeConfig configures a Stripe provider.
type StripeConfig struct {
	// SecretKey is the Stripe secret API key ("sk_live_…", "sk_test_…", or a restricted
	// "rk_…" key allowed to create PaymentIntents). Required.
	SecretKey string
	// BaseURL overrides the API base URL (default https://api.stripe.com), e.g. to point
	// at stripe-mock or a test server. No trailing "/v1".
	BaseURL string
	// HTTPClient overrides the HTTP client. Default: a client with DefaultStripeTimeout.
	HTTPClient *http.Client
	// EUBankTransferCountry is the country of the IBAN Stripe gives customers paying euro
	// invoices by bank transfer (BE, DE, ES, FR, IE or NL; empty:
	// DefaultStripeEUBankTransferCountry).
	EUBankTransferCountry string
}

// Stripe is the Stripe implementation of Provider. It charges saved payment methods
// off-session with PaymentIntents (create + confirm in one call). It is safe for
// concurrent use. The stripe-go client it owns never retries on its own: retries belong
// to the caller, with the same idempotency key.
type Stripe struct {
	api       *client.API
	euCountry string
}

var _ Provider = (*Stripe)(nil)

// NewStripe returns a Stripe provider with its own API client (it never touches the
// stripe-go package-level key or backends).
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if strings.TrimSpace(cfg.SecretKey) == "" {
		return nil, errors.New("stripe: secret key is required")
	}
	euCountry := strings.ToUpper(strings.TrimSpace(cfg.EUBankTransferCountry))
	if euCountry == "" {
		euCountry = DefaultStripeEUBankTransferCountry
	}
	if !slices.Contains(stripeEUCountries, euCountry) {
		return nil, fmt.Errorf("stripe: EU bank transfer country %q is not one of %s", euCountry, strings.Join(stripeEUCountries, ", "))
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Timeout: DefaultStripeTimeout}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = statusRecorder{base: base}

	bc := &stripe.BackendConfig{
		HTTPClient:        &hc,
		MaxNetworkRetries: stripe.Int64(0),
		// Every failure is returned to the caller, who logs it; stripe-go's own logging
		// would duplicate it on stderr.
		LeveledLogger:   &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry: stripe.Bool(false),
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(cfg.BaseURL)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	api := client.New(cfg.SecretKey, &stripe.Backends{API: b, Connect: b, Uploads: b})
	return &Stripe{api: api, euCountry: euCountry}, nil
}

// Name returns "stripe".
func (s *Stripe) Name() string { return StripeProviderName }

// Charge creates and confirms an off-session PaymentIntent for the saved payment method,
// with req.IdempotencyKey as Stripe's Idempotency-Key.
//
// Results: PaymentIntent succeeded → settled; processing → pending (the outcome arrives as
// a webhook Event); a card error (HTTP 402) or requires_payment_method → failed with the
// mapped error type (MapStripeDecline); requires_action → failed authentication_required;
// canceled → failed unknown. ChargeResult.Reference is the PaymentIntent id ("pi_…"),
// also for declines.
//
// Errors: a plain error wrapping ErrInvalidChargeRequest (and money.ErrNotExact for an
// amount that is not a whole number of minor units) when the request is rejected before
// sending; otherwise a *ProviderError for every infrastructure failure — network errors
// and timeouts, 5xx, 409 and 429 are Retryable; 401/403 (bad or insufficient key) and
// 400/404 invalid_request_error / idempotency_error are not (the request or the
// configuration is wrong: stop and alert). A PaymentIntent in a state a confirmed
// automatic-capture intent should never be in (requires_capture, requires_confirmation)
// is also a non-retryable *ProviderError, for a human to look at.
//
// Idempotency caveat: Stripe stores the first response for a key once the endpoint has
// started executing, 500 errors included, and replays it for ~24h. Repeating a charge
// that got a 5xx with the same key therefore returns the same 5xx; network errors,
// timeouts, 409 and 429 are not stored and are worth repeating with the same key.
func (s *Stripe) Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error) {
	params, err := stripeChargeParams(req)
	if err != nil {
		return ChargeResult{}, err
	}
	var status atomic.Int64
	params.Context = context.WithValue(ctx, statusKey{}, &status)

	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return chargeResultFromError(err, int(status.Load()))
	}
	return chargeResultFromIntent(pi)
}

// stripeChargeParams validates req and builds the PaymentIntent create parameters.
func stripeChargeParams(req ChargeRequest) (*stripe.PaymentIntentParams, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return nil, fmt.Errorf("%w: idempotency key is required", ErrInvalidChargeRequest)
	}
	if strings.TrimSpace(req.PaymentMethodRef) == "" {
		return nil, fmt.Errorf("%w: payment method is required", ErrInvalidChargeRequest)
	}
	cur, err := money.NormalizeCurrency(req.Currency)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	if !req.Amount.IsPositive() {
		return nil, fmt.Errorf("%w: amount must be positive, got %s", ErrInvalidChargeRequest, req.Amount.String())
	}
	minor, err := money.ToMinor(req.Amount, cur)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}

	params := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(minor),
		Currency:      stripe.String(strings.ToLower(cur)),
		PaymentMethod: stripe.String(req.PaymentMethodRef),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
		// Saved payment methods charged off-session never redirect; refusing redirect-based
		// methods also means Stripe does not ask for a return_url on confirmation.
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled:        stripe.Bool(true),
			AllowRedirects: stripe.String("never"),
		},
	}
	if req.CustomerRef != "" {
		params.Customer = stripe.String(req.CustomerRef)
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	for k, v := range req.Metadata {
		params.AddMetadata(k, v)
	}
	params.SetIdempotencyKey(req.IdempotencyKey)
	return params, nil
}

// chargeResultFromIntent maps a PaymentIntent returned with HTTP 2xx.
func chargeResultFromIntent(pi *stripe.PaymentIntent) (ChargeResult, error) {
	res := ChargeResult{Reference: pi.ID}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		res.Status = StatusSettled
	case stripe.PaymentIntentStatusProcessing:
		res.Status = StatusPending
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		res.Status = StatusFailed
		if e := pi.LastPaymentError; e != nil {
			applyDecline(&res, string(e.Code), string(e.DeclineCode), e.Msg)
		} else {
			applyDecline(&res, "", "", "payment intent requires a new payment method")
		}
	case stripe.PaymentIntentStatusRequiresAction:
		res.Status = StatusFailed
		res.ErrorType = ErrAuthenticationRequired
		res.HardDecline = true
		res.Message = "payment requires customer action (e.g. 3-D Secure authentication)"
	case stripe.PaymentIntentStatusCanceled:
		res.Status = StatusFailed
		res.ErrorType = ErrUnknown
		res.Message = "payment intent canceled"
		if pi.CancellationReason != "" {
			res.Message += ": " + string(pi.CancellationReason)
		}
	default:
		return ChargeResult{}, &ProviderError{
			Provider:  StripeProviderName,
			Retryable: false,
			Err:       fmt.Errorf("payment intent %s in unexpected status %q after confirmation", pi.ID, pi.Status),
		}
	}
	return res, nil
}

// applyDecline fills the failure fields of a result from Stripe's codes.
func applyDecline(res *ChargeResult, code, declineCode, msg string) {
	res.ErrorType, res.HardDecline = MapStripeDecline(code, declineCode)
	res.ProviderCode = code
	res.DeclineCode = declineCode
	res.Message = msg
}

// chargeResultFromError maps an error from the PaymentIntent create call: card errors are
// declines (a result); everything else is a *ProviderError. status is the HTTP status the
// transport saw, 0 if no response arrived.
func chargeResultFromError(err error, status int) (ChargeResult, error) {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No response, a timeout, a cancelled context, or a response that was not a
		// Stripe error object (e.g. an HTML 502 from a proxy).
		return ChargeResult{}, &ProviderError{
			Provider:   StripeProviderName,
			HTTPStatus: status,
			Retryable:  !(status == http.StatusUnauthorized || status == http.StatusForbidden),
			Err:        err,
		}
	}
	if se.HTTPStatusCode != 0 {
		status = se.HTTPStatusCode
	}
	if se.Type == stripe.ErrorTypeCard || (status == http.StatusPaymentRequired && se.PaymentIntent != nil) {
		res := ChargeResult{Status: StatusFailed}
		if se.PaymentIntent != nil {
			res.Reference = se.PaymentIntent.ID
		}
		applyDecline(&res, string(se.Code), string(se.DeclineCode), se.Msg)
		return res, nil
	}
	return ChargeResult{}, &ProviderError{
		Provider:   StripeProviderName,
		HTTPStatus: status,
		Code:       string(se.Code),
		Retryable:  stripeRetryable(status, se.Type),
		Err:        stripeAPIError{se},
	}
}

// stripeRetryable decides whether an API error other than a card error may succeed later.
func stripeRetryable(status int, typ stripe.ErrorType) bool {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return false // bad, expired or under-privileged key
	case status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500:
		return true // concurrent use of the key, rate limit / lock timeout, Stripe outage
	case typ == stripe.ErrorTypeInvalidRequest || typ == stripe.ErrorTypeIdempotency:
		return false // malformed request, missing object, key reused with other parameters
	}
	return true
}

// stripeAPIError gives a *stripe.Error a short message (its own Error() dumps the whole
// object as JSON, payment intent included) while keeping it reachable with errors.As.
type stripeAPIError struct{ e *stripe.Error }

// Error returns "stripe <type>/<code>: <message> (request <id>)".
func (w stripeAPIError) Error() string {
	s := string(w.e.Type)
	if w.e.Code != "" {
		s += "/" + string(w.e.Code)
	}
	if w.e.Msg != "" {
		s += ": " + w.e.Msg
	}
	if w.e.RequestID != "" {
		s += " (request " + w.e.RequestID + ")"
	}
	return "stripe " + s
}

// Unwrap returns the *stripe.Error.
func (w stripeAPIError) Unwrap() error { return w.e }

// statusKey is the context key under which Charge passes a *atomic.Int64 that
// statusRecorder fills with the HTTP status of the response.
type statusKey struct{}

// statusRecorder records the HTTP status of each response, so that failures stripe-go
// cannot parse into a *stripe.Error (non-JSON bodies) still report their status.
type statusRecorder struct{ base http.RoundTripper }

// RoundTrip delegates to the base transport and records the response status.
func (t statusRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		if p, ok := r.Context().Value(statusKey{}).(*atomic.Int64); ok {
			p.Store(int64(resp.StatusCode))
		}
	}
	return resp, err
}

// ParseStripeEvent verifies a Stripe webhook (payload is the raw request body, sigHeader
// the Stripe-Signature header, secret the endpoint's signing secret "whsec_…") and
// converts the PaymentIntent events payorch acts on into a normalized Event:
// payment_intent.succeeded → settled, payment_intent.processing → pending,
// payment_intent.payment_failed → failed with the error mapped from last_payment_error
// (for a direct debit that had succeeded, the bank's return: a reversal of what settled),
// charge.dispute.funds_withdrawn → reversed (a chargeback: Stripe took the money back).
// charge.dispute.created is not acted on: an inquiry (warning_needs_response) withdraws
// nothing, and a real dispute's withdrawal comes as funds_withdrawn. A dispute won later
// (charge.dispute.funds_reinstated) is not acted on either: its money is not credited
// back (a known limit, see the README).
// Bank transfers (customer_balance intents) become events with Funding set
// (parseFundingEvent): payment_intent.partially_funded, the intent's
// payment_intent.succeeded, and customer_cash_balance_transaction.created of type
// applied_to_payment.
// Event.ID is the Stripe event id, Event.Reference the PaymentIntent id, and the intent's
// metadata is copied.
//
// The bool is false (with a nil error) for any other, correctly signed, event type: the
// caller acknowledges and ignores it. A missing, malformed, wrong or stale signature
// returns an error wrapping ErrBadSignature; an event of those types without an id, a data
// object or a PaymentIntent id is an error. The event's API version is not checked, as
// only stable PaymentIntent fields are read.
func ParseStripeEvent(payload []byte, sigHeader, secret string) (Event, bool, error) {
	if secret == "" {
		// An empty secret would accept payloads signed with an empty key.
		return Event{}, false, errors.New("stripe webhook: signing secret is not configured")
	}
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, secret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return Event{}, false, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return Event{}, false, fmt.Errorf("stripe webhook: %w", err)
	}

	var status ChargeStatus
	switch ev.Type {
	case stripe.EventTypePaymentIntentSucceeded:
		status = StatusSettled
	case stripe.EventTypePaymentIntentProcessing:
		status = StatusPending
	case stripe.EventTypePaymentIntentPaymentFailed:
		status = StatusFailed
	case stripe.EventTypePaymentIntentPartiallyFunded, stripe.EventTypeCustomerCashBalanceTransactionCreated:
	case stripe.EventTypeChargeDisputeFundsWithdrawn:
		status = StatusReversed
	default:
		return Event{}, false, nil
	}
	if strings.TrimSpace(ev.ID) == "" {
		// Events are de-duplicated by id: one without cannot be told from another.
		return Event{}, false, fmt.Errorf("stripe webhook: a %s event without an id", ev.Type)
	}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s (%s) has no data object", ev.ID, ev.Type)
	}
	if ev.Type == stripe.EventTypeChargeDisputeFundsWithdrawn {
		return stripeDisputeEvent(ev)
	}
	if status == "" {
		return parseFundingEvent(ev)
	}
	var pi stripe.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s: decoding payment intent: %w", ev.ID, err)
	}
	if status == StatusSettled && isCustomerBalanceIntent(&pi) {
		// A bank transfer's intent: the money it received is reconciled on the invoice.
		return parseFundingEvent(ev)
	}
	if pi.ID == "" {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s (%s) has no payment intent id", ev.ID, ev.Type)
	}

	out := Event{
		ID:        ev.ID,
		Provider:  StripeProviderName,
		Reference: pi.ID,
		Status:    status,
	}
	if len(pi.Metadata) > 0 {
		out.Metadata = make(map[string]string, len(pi.Metadata))
		for k, v := range pi.Metadata {
			out.Metadata[k] = v
		}
	}
	if status == StatusFailed {
		var code, declineCode, msg string
		if e := pi.LastPaymentError; e != nil {
			code, declineCode, msg = string(e.Code), string(e.DeclineCode), e.Msg
		}
		out.ErrorType, out.HardDecline = MapStripeDecline(code, declineCode)
		out.ProviderCode, out.DeclineCode, out.Message = code, declineCode, msg
	}
	return out, true, nil
}

// stripeDisputeEvent turns charge.dispute.funds_withdrawn into a reversed Event about the
// disputed PaymentIntent: the provider has taken the money back (a chargeback).
func stripeDisputeEvent(ev stripe.Event) (Event, bool, error) {
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s (%s) has no data object", ev.ID, ev.Type)
	}
	var d stripe.Dispute
	if err := json.Unmarshal(ev.Data.Raw, &d); err != nil {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s: decoding dispute: %w", ev.ID, err)
	}
	if d.PaymentIntent == nil || d.PaymentIntent.ID == "" {
		return Event{}, false, fmt.Errorf("stripe webhook: event %s (%s) names no payment intent", ev.ID, ev.Type)
	}
	return Event{ID: ev.ID, Provider: StripeProviderName, Reference: d.PaymentIntent.ID, Status: StatusReversed,
		ProviderCode: "dispute_" + string(d.Reason), Message: "the customer disputed the payment (" + string(d.Reason) + ")"}, true, nil
}
