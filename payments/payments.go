// Package payments is the payment-service-provider (PSP) boundary: one small interface
// that every charge goes through, the eleven normalized error types, and two
// implementations — Stripe (stripe-go v76) and a durable simulated provider.
//
// A decline is a result (ChargeResult with StatusFailed), never a Go error. A Go error
// from Charge means an infrastructure failure (network, 5xx, 429, bad credentials): the
// caller retries it with backoff, and it never counts as a payment attempt.
package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"payorch/declines"
)

// ChargeStatus is the outcome of a charge as the provider reports it.
type ChargeStatus string

const (
	// StatusSettled means the money was captured.
	StatusSettled ChargeStatus = "settled"
	// StatusPending means the outcome arrives later as an Event (e.g. SEPA direct debit).
	StatusPending ChargeStatus = "pending"
	// StatusFailed means the provider refused the charge; ErrorType says why.
	StatusFailed ChargeStatus = "failed"
	// StatusReversed, only in an Event, means the provider took back money it had reported
	// settled: a direct debit returned by the bank (SEPA return) or a chargeback (dispute).
	StatusReversed ChargeStatus = "reversed"
)

// ErrorType is one of the eleven normalized failure reasons of a transaction. It is the
// policy package's type (declines.Type): what each type means for retries, emails and the
// attempt budget is decided there, once.
type ErrorType = declines.Type

// The eleven error types, as the billing platform documents them (declines.All).
const (
	ErrAuthenticationRequired          = declines.AuthenticationRequired
	ErrPaymentMethodAuthorizationError = declines.PaymentMethodAuthorizationError
	ErrPaymentMethodDeclined           = declines.PaymentMethodDeclined
	ErrPaymentMethodExpired            = declines.PaymentMethodExpired
	ErrPaymentMethodInvalid            = declines.PaymentMethodInvalid
	ErrPaymentMethodNotSupported       = declines.PaymentMethodNotSupported
	ErrDeclined                        = declines.Declined
	ErrFraud                           = declines.Fraud
	ErrProcessingError                 = declines.ProcessingError
	ErrProviderError                   = declines.ProviderError
	ErrUnknown                         = declines.Unknown
)

// AllErrorTypes lists the eleven error types in documentation order.
var AllErrorTypes = declines.All

// ChargeRequest is an off-session charge of a saved payment method.
type ChargeRequest struct {
	// IdempotencyKey makes the charge safe to repeat: the same key always returns the
	// first result and never charges twice (e.g. "inv_123:attempt:2").
	IdempotencyKey string
	// CustomerRef is the provider's customer id (Stripe "cus_…"); may be empty. The
	// simulated provider then uses Metadata["customer_id"] (payorch's customer id).
	CustomerRef string
	// PaymentMethodRef is the provider's payment-method id ("pm_card_visa").
	PaymentMethodRef string
	// Amount is the amount to charge, in Currency, as a decimal.
	Amount decimal.Decimal
	// Currency is an ISO 4217 code ("EUR").
	Currency string
	// Description is shown on the provider's dashboard.
	Description string
	// Metadata is stored with the charge (invoice_id, attempt, load_id…).
	Metadata map[string]string
}

// ChargeResult is what the provider said about a charge. A decline is a result.
type ChargeResult struct {
	// Status is settled, pending or failed.
	Status ChargeStatus `json:"status"`
	// Reference is the provider's id for the charge (Stripe PaymentIntent id "pi_…").
	Reference string `json:"reference"`
	// ErrorType is set when Status is failed.
	ErrorType ErrorType `json:"error_type,omitempty"`
	// HardDecline is true when retrying the same payment method is pointless (lost or
	// stolen card, expired, invalid, not supported, do_not_try_again, fraud).
	HardDecline bool `json:"hard_decline,omitempty"`
	// ProviderCode is the provider's raw error code ("card_declined").
	ProviderCode string `json:"provider_code,omitempty"`
	// DeclineCode is the provider's raw decline code ("insufficient_funds").
	DeclineCode string `json:"decline_code,omitempty"`
	// Message is the provider's human-readable message.
	Message string `json:"message,omitempty"`
}

// Event is an asynchronous outcome reported by a provider after the charge call returned
// (e.g. a direct debit settling or failing days later).
type Event struct {
	// ID is the provider's event id, used to process each event at most once.
	ID string `json:"id"`
	// Provider names the provider that sent the event ("stripe", "simulated").
	Provider string `json:"provider"`
	// Reference is the charge's provider reference (ChargeResult.Reference).
	Reference string `json:"reference"`
	// Status is the charge's new status.
	Status ChargeStatus `json:"status"`
	// ErrorType, HardDecline, ProviderCode, DeclineCode and Message describe a failure.
	ErrorType    ErrorType `json:"error_type,omitempty"`
	HardDecline  bool      `json:"hard_decline,omitempty"`
	ProviderCode string    `json:"provider_code,omitempty"`
	DeclineCode  string    `json:"decline_code,omitempty"`
	Message      string    `json:"message,omitempty"`
	// Metadata is the charge's metadata as the provider echoes it back.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Funding is set when the event reports money received by bank transfer for a
	// funding (BankTransfers); Reference is then the funding's provider reference.
	Funding *Funding `json:"funding,omitempty"`
}

// EventHandler receives normalized provider events. Handle must be idempotent per event
// id; returning an error asks the provider (or the simulator) to deliver again later.
type EventHandler interface {
	HandleProviderEvent(ctx context.Context, ev Event) error
}

// EventHandlerFunc adapts a function to EventHandler.
type EventHandlerFunc func(ctx context.Context, ev Event) error

// HandleProviderEvent calls f.
func (f EventHandlerFunc) HandleProviderEvent(ctx context.Context, ev Event) error {
	return f(ctx, ev)
}

// Provider charges saved payment methods. Implementations must honour idempotency keys.
type Provider interface {
	// Name identifies the provider ("stripe", "simulated").
	Name() string
	// Charge charges a saved payment method off-session. It returns an error only for
	// infrastructure failures, wrapped in *ProviderError.
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
}

// ProviderError is an infrastructure failure talking to the provider (network, 5xx, 429,
// bad credentials). It maps to the provider_error type, is retried with backoff by the
// caller, and never counts as a payment attempt.
type ProviderError struct {
	// Provider names the provider.
	Provider string
	// HTTPStatus is the provider's HTTP status, 0 when no response arrived.
	HTTPStatus int
	// Code is the provider's raw error code, if any.
	Code string
	// Retryable is false for failures that no retry can fix (bad credentials, a request
	// the provider rejects as malformed); the caller should stop and alert.
	Retryable bool
	// Err is the underlying error.
	Err error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("%s provider error (http %d, code %q): %v", e.Provider, e.HTTPStatus, e.Code, e.Err)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// IsProviderError reports whether err is (or wraps) a *ProviderError.
func IsProviderError(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe)
}

// IsHardDeclineType reports whether a failure of this type (with this decline code, when
// known) needs a new payment method before retrying. It asks the one policy
// (declines.IsHard); the Stripe table's Hard column agrees with it row by row.
func IsHardDeclineType(t ErrorType, declineCode string) bool {
	return declines.IsHard(t, declineCode)
}
