package payments

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/stripe/stripe-go/v76"

	"payorch/money"
)

// CardSteps are the customer-present (on-session) steps of a provider, used by the
// customer portal. Card data never reaches payorch: the customer types it into the
// provider's own form (Stripe's Payment Element on a SetupIntent) or answers the
// provider's own challenge (3-D Secure through Stripe.js on a PaymentIntent); payorch
// only creates the intent, hands its client secret to the page, and afterwards asks the
// provider for the outcome before acting on it. Both providers implement it.
type CardSteps interface {
	// Name identifies the provider ("stripe", "simulated").
	Name() string
	// CreateCardSetup starts saving a card for later off-session charges of the
	// provider's customer (Stripe: a SetupIntent with usage=off_session).
	CreateCardSetup(ctx context.Context, customerRef string) (CardSetup, error)
	// VerifyCardSetup asks the provider about a finished setup and returns the saved card
	// when the setup succeeded, belongs to customerRef and saved paymentMethodRef; else an
	// error wrapping ErrStepNotSucceeded or ErrStepMismatch (ErrNoSuchStep when the
	// provider does not know the id), or a *ProviderError.
	VerifyCardSetup(ctx context.Context, setupID, customerRef, paymentMethodRef string) (SavedCard, error)
	// CreateOnSessionPayment creates a payment the customer confirms on the page (Stripe: a
	// PaymentIntent of the saved card, not confirmed; Stripe.js confirmCardPayment runs
	// the 3-D Secure step). The same IdempotencyKey returns the same payment.
	CreateOnSessionPayment(ctx context.Context, req OnSessionPaymentRequest) (OnSessionPayment, error)
	// OnSessionPayment asks the provider for a payment's current state.
	OnSessionPayment(ctx context.Context, id string) (OnSessionPayment, error)
}

// Errors of the card steps (wrapped, with details).
var (
	// ErrNoSuchStep: the provider does not know the setup or payment id.
	ErrNoSuchStep = errors.New("no such setup or payment")
	// ErrStepNotSucceeded: the setup or payment has not succeeded (yet, or at all).
	ErrStepNotSucceeded = errors.New("the setup or payment has not succeeded")
	// ErrStepMismatch: the setup or payment belongs to another customer, payment method,
	// amount or currency than the caller expects.
	ErrStepMismatch = errors.New("the setup or payment does not match")
)

// CardSetup is a started card setup: the page hands ClientSecret to the provider's form.
type CardSetup struct {
	// ID is the provider's setup id (Stripe "seti_…").
	ID string `json:"id"`
	// ClientSecret lets the customer's browser complete this one setup, nothing else.
	ClientSecret string `json:"client_secret"`
}

// SavedCard is a card the provider saved for the customer, as the provider reports it.
type SavedCard struct {
	PaymentMethodRef string
	Brand            string
	Last4            string
	ExpMonth         int32
	ExpYear          int32
}

// OnSessionPaymentRequest is a payment of a saved card with the customer present.
type OnSessionPaymentRequest struct {
	// IdempotencyKey makes creating it safe to repeat (the same key, the same payment).
	IdempotencyKey   string
	CustomerRef      string
	PaymentMethodRef string
	Amount           decimal.Decimal
	Currency         string
	Description      string
	// Metadata is stored with the payment (invoice_id, customer_id); the amount is added
	// as metadata "amount", which VerifySucceeded compares with the payment's amount.
	Metadata map[string]string
}

// OnSessionStatus is where an on-session payment stands.
type OnSessionStatus string

// On-session payment statuses.
const (
	// OnSessionRequiresAction: the customer has not finished (3-D Secure pending).
	OnSessionRequiresAction OnSessionStatus = "requires_action"
	// OnSessionProcessing: confirmed, the outcome is not known yet.
	OnSessionProcessing OnSessionStatus = "processing"
	// OnSessionSucceeded: the money was captured.
	OnSessionSucceeded OnSessionStatus = "succeeded"
	// OnSessionFailed: authentication failed or the card was declined; a new payment may
	// be tried.
	OnSessionFailed OnSessionStatus = "failed"
)

// OnSessionPayment is an on-session payment as the provider reports it.
type OnSessionPayment struct {
	// ID is the provider's id (Stripe "pi_…"), the reference a payment is applied under.
	ID               string            `json:"id"`
	ClientSecret     string            `json:"client_secret"`
	Status           OnSessionStatus   `json:"status"`
	Amount           decimal.Decimal   `json:"amount"`
	Currency         string            `json:"currency"`
	CustomerRef      string            `json:"-"`
	PaymentMethodRef string            `json:"-"`
	Message          string            `json:"message,omitempty"`
	Metadata         map[string]string `json:"-"`
}

// VerifySucceeded checks that the payment succeeded for the expected customer, invoice
// (metadata invoice_id) and currency, for the amount payorch asked for when it created it
// (metadata amount), and returns an error wrapping ErrStepNotSucceeded or ErrStepMismatch
// otherwise.
func (p OnSessionPayment) VerifySucceeded(customerRef, invoiceID, currency string) error {
	asked, err := decimal.NewFromString(p.Metadata["amount"])
	switch {
	case err != nil || !asked.Equal(p.Amount):
		return fmt.Errorf("%w: payment %s is for %s, not the amount asked for (%q)", ErrStepMismatch, p.ID, p.Amount, p.Metadata["amount"])
	case p.CustomerRef != customerRef:
		return fmt.Errorf("%w: payment %s belongs to another customer", ErrStepMismatch, p.ID)
	case p.Metadata["invoice_id"] != invoiceID:
		return fmt.Errorf("%w: payment %s is for another invoice", ErrStepMismatch, p.ID)
	case !strings.EqualFold(p.Currency, currency):
		return fmt.Errorf("%w: payment %s is in %s, the invoice in %s", ErrStepMismatch, p.ID, p.Currency, currency)
	case !p.Amount.IsPositive():
		return fmt.Errorf("%w: payment %s has no amount", ErrStepMismatch, p.ID)
	case p.Status != OnSessionSucceeded:
		msg := ""
		if p.Message != "" {
			msg = ": " + p.Message
		}
		return fmt.Errorf("%w: payment %s is %s%s", ErrStepNotSucceeded, p.ID, p.Status, msg)
	}
	return nil
}

// StepsOf returns the card steps of a provider, or nil when it has none.
func StepsOf(p Provider) CardSteps {
	cs, _ := p.(CardSteps)
	return cs
}

var (
	_ CardSteps = (*Stripe)(nil)
	_ CardSteps = (*Simulated)(nil)
)

// CreateCardSetup creates a SetupIntent for the Stripe customer with usage=off_session,
// for cards, so the saved card can be charged later without the customer.
func (s *Stripe) CreateCardSetup(ctx context.Context, customerRef string) (CardSetup, error) {
	if strings.TrimSpace(customerRef) == "" {
		return CardSetup{}, fmt.Errorf("%w: a Stripe customer id is required", ErrInvalidChargeRequest)
	}
	params := &stripe.SetupIntentParams{
		Customer:           stripe.String(customerRef),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	params.AddMetadata("source", "payorch_portal")
	params.Context = ctx
	si, err := s.api.SetupIntents.New(params)
	if err != nil {
		return CardSetup{}, stepError(err)
	}
	return CardSetup{ID: si.ID, ClientSecret: si.ClientSecret}, nil
}

// VerifyCardSetup retrieves the SetupIntent (its payment method expanded) and checks it
// succeeded, for customerRef, with paymentMethodRef.
func (s *Stripe) VerifyCardSetup(ctx context.Context, setupID, customerRef, paymentMethodRef string) (SavedCard, error) {
	params := &stripe.SetupIntentParams{}
	params.AddExpand("payment_method")
	params.Context = ctx
	si, err := s.api.SetupIntents.Get(setupID, params)
	if err != nil {
		return SavedCard{}, stepError(err)
	}
	cust, pm := "", ""
	if si.Customer != nil {
		cust = si.Customer.ID
	}
	if si.PaymentMethod != nil {
		pm = si.PaymentMethod.ID
	}
	switch {
	case si.Status != stripe.SetupIntentStatusSucceeded:
		return SavedCard{}, fmt.Errorf("%w: setup %s is %s", ErrStepNotSucceeded, si.ID, si.Status)
	case cust != customerRef:
		return SavedCard{}, fmt.Errorf("%w: setup %s belongs to another customer", ErrStepMismatch, si.ID)
	case pm == "" || pm != paymentMethodRef:
		return SavedCard{}, fmt.Errorf("%w: setup %s saved another payment method", ErrStepMismatch, si.ID)
	}
	out := SavedCard{PaymentMethodRef: pm}
	if c := si.PaymentMethod.Card; c != nil {
		out.Brand, out.Last4, out.ExpMonth, out.ExpYear = string(c.Brand), c.Last4, int32(c.ExpMonth), int32(c.ExpYear)
	}
	return out, nil
}

// CreateOnSessionPayment creates a card PaymentIntent of the saved payment method for the
// customer, not confirmed: the page confirms it with Stripe.js (confirmCardPayment), which
// runs the 3-D Secure step.
func (s *Stripe) CreateOnSessionPayment(ctx context.Context, req OnSessionPaymentRequest) (OnSessionPayment, error) {
	cur, minor, err := onSessionAmount(req)
	if err != nil {
		return OnSessionPayment{}, err
	}
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(minor),
		Currency:           stripe.String(strings.ToLower(cur)),
		Customer:           stripe.String(req.CustomerRef),
		PaymentMethod:      stripe.String(req.PaymentMethodRef),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	for k, v := range req.Metadata {
		params.AddMetadata(k, v)
	}
	params.AddMetadata("amount", money.Format(req.Amount, cur))
	params.SetIdempotencyKey(req.IdempotencyKey)
	params.Context = ctx
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return OnSessionPayment{}, stepError(err)
	}
	return onSessionFromIntent(pi)
}

// OnSessionPayment retrieves the PaymentIntent.
func (s *Stripe) OnSessionPayment(ctx context.Context, id string) (OnSessionPayment, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := s.api.PaymentIntents.Get(id, params)
	if err != nil {
		return OnSessionPayment{}, stepError(err)
	}
	return onSessionFromIntent(pi)
}

// onSessionAmount validates an on-session payment request and returns its currency and
// amount in minor units.
func onSessionAmount(req OnSessionPaymentRequest) (string, int64, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" || strings.TrimSpace(req.CustomerRef) == "" || strings.TrimSpace(req.PaymentMethodRef) == "" {
		return "", 0, fmt.Errorf("%w: idempotency key, customer and payment method are required", ErrInvalidChargeRequest)
	}
	cur, err := money.NormalizeCurrency(req.Currency)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	if !req.Amount.IsPositive() {
		return "", 0, fmt.Errorf("%w: amount must be positive, got %s", ErrInvalidChargeRequest, req.Amount)
	}
	minor, err := money.ToMinor(req.Amount, cur)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrInvalidChargeRequest, err)
	}
	return cur, minor, nil
}

// onSessionFromIntent maps a PaymentIntent to an OnSessionPayment.
func onSessionFromIntent(pi *stripe.PaymentIntent) (OnSessionPayment, error) {
	cur, err := money.NormalizeCurrency(string(pi.Currency))
	if err != nil {
		return OnSessionPayment{}, &ProviderError{Provider: StripeProviderName, Err: fmt.Errorf("payment intent %s: %w", pi.ID, err)}
	}
	amount, err := money.FromMinor(pi.Amount, cur)
	if err != nil {
		return OnSessionPayment{}, &ProviderError{Provider: StripeProviderName, Err: fmt.Errorf("payment intent %s: %w", pi.ID, err)}
	}
	out := OnSessionPayment{ID: pi.ID, ClientSecret: pi.ClientSecret, Amount: amount, Currency: cur, Metadata: pi.Metadata}
	if pi.Customer != nil {
		out.CustomerRef = pi.Customer.ID
	}
	if pi.PaymentMethod != nil {
		out.PaymentMethodRef = pi.PaymentMethod.ID
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		out.Status = OnSessionSucceeded
	case stripe.PaymentIntentStatusProcessing:
		out.Status = OnSessionProcessing
	case stripe.PaymentIntentStatusCanceled:
		out.Status = OnSessionFailed
	default: // requires_payment_method, requires_confirmation, requires_action, requires_capture
		out.Status = OnSessionRequiresAction
	}
	if e := pi.LastPaymentError; e != nil {
		out.Message = e.Msg
	}
	return out, nil
}

// stepError maps a Stripe error of a card step: an unknown id wraps ErrNoSuchStep; the rest
// is a *ProviderError.
func stepError(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		if se.Code == stripe.ErrorCodeResourceMissing {
			return fmt.Errorf("%w: %w", ErrNoSuchStep, stripeAPIError{se})
		}
		return &ProviderError{Provider: StripeProviderName, HTTPStatus: se.HTTPStatusCode, Code: string(se.Code),
			Retryable: stripeRetryable(se.HTTPStatusCode, se.Type), Err: stripeAPIError{se}}
	}
	return &ProviderError{Provider: StripeProviderName, Retryable: true, Err: err}
}

// PurposePortalAuthentication is the metadata "purpose" of an on-session payment a
// customer authenticates in the portal for an invoice: its outcome, however it arrives
// (the page, or the provider's webhook when the page was closed), pays that invoice.
const PurposePortalAuthentication = "portal_authentication"
