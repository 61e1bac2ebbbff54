package portal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"payorch/apperr"
	"payorch/collection"
	"payorch/contracts"
	"payorch/customers"
	"payorch/invoices"
	"payorch/money"
	"payorch/payments"
)

// MethodCardOnSession is the reconciliation method of a card payment the customer
// authenticated in the portal (its reference is the provider's payment id).
const MethodCardOnSession = invoices.MethodCardOnSession

// Cards runs the portal's customer-present card steps over the provider's CardSteps:
// saving a new card through the provider's own form, and paying an invoice whose charge
// needs 3-D Secure. payorch never sees card data: it creates the provider's intent, the
// customer's browser completes it with the provider, and payorch asks the provider for
// the outcome before it saves the card or applies the payment.
type Cards struct {
	// Steps is the provider's side (nil: the portal offers no card steps).
	Steps     payments.CardSteps
	Customers *customers.Service
	Invoices  *invoices.Service
	Collect   *collection.Client
	// Now is the clock (paid_at of an applied payment). Nil: time.Now.
	Now func() time.Time
}

// Enabled reports whether a provider with card steps is configured.
func (c *Cards) Enabled() bool { return c != nil && c.Steps != nil }

// Provider names the provider of the card steps ("stripe", "simulated"; "" when none).
func (c *Cards) Provider() string {
	if !c.Enabled() {
		return ""
	}
	return c.Steps.Name()
}

func (c *Cards) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// customerRef is the provider's id of the customer: the saved provider customer id; the
// simulated provider, which has no customers of its own, files steps under payorch's id.
func (c *Cards) customerRef(ctx context.Context, customerID string) (string, error) {
	if !c.Enabled() {
		return "", apperr.New(apperr.Unavailable, "card_steps_unavailable", "saving or authenticating a card is not available right now")
	}
	cust, err := c.Customers.Get(ctx, customerID)
	if err != nil {
		return "", err
	}
	if cust.ProviderCustomerID != nil && *cust.ProviderCustomerID != "" {
		return *cust.ProviderCustomerID, nil
	}
	if c.Steps.Name() == payments.SimulatedProviderName {
		return cust.ID, nil
	}
	return "", apperr.New(apperr.Conflict, "provider_customer_missing",
		"your account is not set up for card payments yet; please contact us")
}

// StartSetup starts saving a new card for the customer: the page hands the setup's
// client secret to the provider's form.
func (c *Cards) StartSetup(ctx context.Context, customerID string) (payments.CardSetup, error) {
	ref, err := c.customerRef(ctx, customerID)
	if err != nil {
		return payments.CardSetup{}, err
	}
	out, err := c.Steps.CreateCardSetup(ctx, ref)
	if err != nil {
		return payments.CardSetup{}, stepError(err)
	}
	return out, nil
}

// VerifySetup asks the provider whether the customer's setup succeeded with the payment
// method the page reports, and returns the card to save as the new default.
func (c *Cards) VerifySetup(ctx context.Context, customerID, setupID, paymentMethodRef string) (customers.PaymentMethodInput, error) {
	setupID, paymentMethodRef = strings.TrimSpace(setupID), strings.TrimSpace(paymentMethodRef)
	if setupID == "" || paymentMethodRef == "" || len(setupID) > 255 || len(paymentMethodRef) > 255 {
		return customers.PaymentMethodInput{}, apperr.InvalidParam("payment_method", "parameter_missing", "the card setup id and the payment method id are required")
	}
	ref, err := c.customerRef(ctx, customerID)
	if err != nil {
		return customers.PaymentMethodInput{}, err
	}
	card, err := c.Steps.VerifyCardSetup(ctx, setupID, ref, paymentMethodRef)
	if err != nil {
		return customers.PaymentMethodInput{}, stepError(err)
	}
	def := true
	in := customers.PaymentMethodInput{Type: customers.TypeCard, ProviderID: &card.PaymentMethodRef, Default: &def}
	if card.Last4 != "" {
		in.Last4 = &card.Last4
	}
	if card.ExpMonth > 0 && card.ExpYear > 0 {
		in.ExpMonth, in.ExpYear = &card.ExpMonth, &card.ExpYear
	}
	return in, nil
}

// NeedsAuthentication reports whether the customer can pay the invoice by authenticating
// their card: it is open with an amount due, and its last card charge failed with
// authentication_required.
func NeedsAuthentication(inv invoices.Invoice) bool {
	if (inv.Status != invoices.StatusToPay && inv.Status != invoices.StatusError) || inv.AmountDue == "" || strings.Trim(inv.AmountDue, "0.") == "" {
		return false
	}
	last := lastCardCharge(inv)
	return last != nil && last.Status == "failed" && last.ErrorType != nil && *last.ErrorType == string(payments.ErrAuthenticationRequired)
}

// lastCardCharge is the invoice's latest off-session card charge, nil when none.
func lastCardCharge(inv invoices.Invoice) *invoices.Transaction {
	var last *invoices.Transaction
	for i := range inv.Transactions {
		t := &inv.Transactions[i]
		if t.Method == customers.TypeCard && (last == nil || !t.CreatedAt.Before(last.CreatedAt)) {
			last = t
		}
	}
	return last
}

// customerInvoice is the invoice when it is the customer's (else 404, as for any
// resource of another customer).
func (c *Cards) customerInvoice(ctx context.Context, customerID, invoiceID string) (invoices.Invoice, error) {
	inv, err := c.Invoices.Get(ctx, invoiceID)
	if err != nil || inv.CustomerID != customerID {
		if err == nil || apperr.IsKind(err, apperr.NotFound) {
			return invoices.Invoice{}, apperr.NotFoundf("invoice", invoiceID)
		}
		return invoices.Invoice{}, err
	}
	return inv, nil
}

// Authentication is an on-session payment the customer confirms on the page.
type Authentication struct {
	Object    string `json:"object"`
	InvoiceID string `json:"invoice_id"`
	Number    string `json:"invoice_number"`
	// Provider names the provider whose form confirms it ("stripe", "simulated").
	Provider string `json:"provider"`
	// Amount is the payment's amount with the currency's decimals ("30.00").
	Amount string `json:"amount"`
	payments.OnSessionPayment
}

// maxAuthenticationTries bounds the on-session payments of one invoice state.
const maxAuthenticationTries = 10

// StartAuthentication creates an on-session payment of the amount due with the card whose
// charge asked for authentication. The same invoice state gives the same payment (its
// idempotency key is the invoice, its attempt count and the amount due), so a reload does
// not pile up payments; one the customer declined is followed by a new one.
func (c *Cards) StartAuthentication(ctx context.Context, customerID, invoiceID string) (Authentication, error) {
	inv, err := c.customerInvoice(ctx, customerID, invoiceID)
	if err != nil {
		return Authentication{}, err
	}
	if !NeedsAuthentication(inv) {
		return Authentication{}, apperr.New(apperr.Conflict, "authentication_not_needed", "this invoice does not wait for a card authentication")
	}
	ref, err := c.customerRef(ctx, customerID)
	if err != nil {
		return Authentication{}, err
	}
	last := lastCardCharge(inv)
	pm, err := c.cardOf(ctx, customerID, last.PaymentMethodID)
	if err != nil {
		return Authentication{}, err
	}
	due, err := money.ParseAmount(inv.AmountDue, inv.Currency)
	if err != nil {
		return Authentication{}, fmt.Errorf("invoice %s amount due %q: %w", inv.ID, inv.AmountDue, err)
	}
	// A payment the customer declined (simulated) is final: the next try is a new one.
	var p payments.OnSessionPayment
	for try := 1; ; try++ {
		if try > maxAuthenticationTries {
			return Authentication{}, apperr.New(apperr.Rule, "authentication_tries_exhausted",
				"this payment was declined too many times; please save another card or contact us")
		}
		p, err = c.Steps.CreateOnSessionPayment(ctx, payments.OnSessionPaymentRequest{
			IdempotencyKey:   fmt.Sprintf("%s:authenticate:%d:%s:%d", inv.ID, len(inv.Transactions), inv.AmountDue, try),
			CustomerRef:      ref,
			PaymentMethodRef: pm,
			Amount:           due,
			Currency:         inv.Currency,
			Description:      "Invoice " + inv.Number,
			Metadata:         map[string]string{"invoice_id": inv.ID, "customer_id": customerID, "purpose": payments.PurposePortalAuthentication},
		})
		if err != nil {
			return Authentication{}, stepError(err)
		}
		if p.Status != payments.OnSessionFailed {
			break
		}
	}
	return Authentication{Object: "card_authentication", InvoiceID: inv.ID, Number: inv.Number, Provider: c.Steps.Name(),
		Amount: money.Format(p.Amount, p.Currency), OnSessionPayment: p}, nil
}

// cardOf is the provider id of the customer's payment method (the default card when the
// charge names none).
func (c *Cards) cardOf(ctx context.Context, customerID string, paymentMethodID *string) (string, error) {
	items, err := c.Customers.ListPaymentMethods(ctx, customerID, nil)
	if err != nil {
		return "", err
	}
	for _, pm := range items {
		if pm.ProviderID != nil && pm.Type == customers.TypeCard &&
			((paymentMethodID != nil && pm.ID == *paymentMethodID) || (paymentMethodID == nil && pm.Default)) {
			return *pm.ProviderID, nil
		}
	}
	return "", apperr.New(apperr.Conflict, "payment_method_missing", "the card of this payment is no longer saved; save a new card instead")
}

// CompleteAuthentication asks the provider about the on-session payment and, when it
// succeeded for this customer, invoice and currency, applies it to the invoice through the
// workflow's reconciliation (method card_on_session, reference the payment id: it counts
// once, however often the page reports it).
func (c *Cards) CompleteAuthentication(ctx context.Context, customerID, invoiceID, paymentID string) (contracts.UpdateOutcome, error) {
	paymentID = strings.TrimSpace(paymentID)
	if paymentID == "" || len(paymentID) > 200 {
		return contracts.UpdateOutcome{}, apperr.InvalidParam("payment_id", "parameter_missing", "the payment id is required")
	}
	inv, err := c.customerInvoice(ctx, customerID, invoiceID)
	if err != nil {
		return contracts.UpdateOutcome{}, err
	}
	ref, err := c.customerRef(ctx, customerID)
	if err != nil {
		return contracts.UpdateOutcome{}, err
	}
	p, err := c.Steps.OnSessionPayment(ctx, paymentID)
	if err != nil {
		return contracts.UpdateOutcome{}, stepError(err)
	}
	if err := p.VerifySucceeded(ref, inv.ID, inv.Currency); err != nil {
		return contracts.UpdateOutcome{}, stepError(err)
	}
	method := MethodCardOnSession
	paidAt := c.now().UTC()
	body := invoices.ReconcileBody{Amount: p.Amount.String(), Reference: p.ID, PaidAt: &paidAt, Method: &method}
	amount, method, err := c.Invoices.ValidateReconcile(ctx, inv.ID, &body)
	if err != nil {
		return contracts.UpdateOutcome{}, err
	}
	out, err := c.Collect.Reconcile(ctx, inv.ID, contracts.ReconcileRequest{Amount: amount.String(), Reference: p.ID, PaidAt: paidAt, Method: method})
	if err != nil && apperr.IsKind(err, apperr.Conflict) {
		// Reported again after the invoice closed: the payment was applied already.
		if now, gerr := c.Invoices.Get(ctx, inv.ID); gerr == nil {
			for _, t := range now.Transactions {
				if t.Method == MethodCardOnSession && t.Reference != nil && *t.Reference == p.ID {
					return contracts.UpdateOutcome{InvoiceStatus: now.Status, AmountDue: now.AmountDue, AmountPaid: now.AmountPaid}, nil
				}
			}
		}
	}
	return out, err
}

// stepError turns a provider's card-step error into what the customer is told.
func stepError(err error) error {
	switch {
	case errors.Is(err, payments.ErrNoSuchStep):
		return apperr.New(apperr.NotFound, "card_step_not_found", "we could not find this card step; please start again")
	case errors.Is(err, payments.ErrStepMismatch):
		return apperr.New(apperr.Invalid, "card_step_mismatch", "this card step does not belong to this payment; please start again")
	case errors.Is(err, payments.ErrStepNotSucceeded):
		return apperr.New(apperr.Rule, "card_step_not_succeeded", "your bank did not confirm it; nothing was saved or charged, please try again")
	case errors.Is(err, payments.ErrInvalidChargeRequest):
		return apperr.New(apperr.Invalid, "card_step_invalid", "this card step cannot be started for this payment")
	case payments.IsProviderError(err):
		return apperr.New(apperr.Unavailable, "provider_unavailable", "the payment provider could not be reached; please try again in a moment")
	}
	return err
}
