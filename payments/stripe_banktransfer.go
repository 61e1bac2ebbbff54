package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/stripe/stripe-go/v76"

	"payorch/money"
)

var _ BankTransfers = (*Stripe)(nil)

// DefaultStripeEUBankTransferCountry is the country of the IBAN Stripe hands out for euro
// bank transfers when StripeConfig.EUBankTransferCountry is empty.
const DefaultStripeEUBankTransferCountry = "DE"

// stripeEUCountries are the countries Stripe accepts for eu_bank_transfer.country.
var stripeEUCountries = []string{"BE", "DE", "ES", "FR", "IE", "NL"}

// stripeBankTransferTypes maps a currency to Stripe's bank transfer type for it.
var stripeBankTransferTypes = map[string]string{
	"EUR": "eu_bank_transfer",
	"GBP": "gb_bank_transfer",
	"USD": "us_bank_transfer",
}

// RequestBankTransfer creates and confirms a PaymentIntent paid from the customer's
// Stripe cash balance, funded by bank transfer (payment_method_types customer_balance,
// funding_type bank_transfer; eu_bank_transfer for EUR, gb_bank_transfer for GBP,
// us_bank_transfer for USD), with req.IdempotencyKey as Stripe's Idempotency-Key. It
// returns the intent's next_action.display_bank_transfer_instructions: the account, the
// reference the customer must write, and what remains to pay. Stripe applies incoming
// transfers to the intent by itself and reports them as events (ParseStripeEvent).
//
// A currency without a Stripe bank transfer type, or a customer without a Stripe id
// (CustomerRef), is ErrBankTransferUnsupported; an intent that comes back without
// instructions is a non-retryable *ProviderError (the account is not set up for bank
// transfers); API errors are mapped as for Charge.
func (s *Stripe) RequestBankTransfer(ctx context.Context, req BankTransferRequest) (BankTransferInstructions, error) {
	params, err := s.bankTransferParams(req)
	if err != nil {
		return BankTransferInstructions{}, err
	}
	var status atomic.Int64
	params.Context = context.WithValue(ctx, statusKey{}, &status)
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		if _, perr := chargeResultFromError(err, int(status.Load())); perr != nil {
			return BankTransferInstructions{}, perr
		}
		return BankTransferInstructions{}, &ProviderError{Provider: StripeProviderName, HTTPStatus: int(status.Load()),
			Retryable: false, Err: fmt.Errorf("customer-balance payment intent refused: %w", err)}
	}
	return bankTransferInstructionsFromIntent(pi)
}

// bankTransferParams validates req and builds the customer-balance PaymentIntent.
func (s *Stripe) bankTransferParams(req BankTransferRequest) (*stripe.PaymentIntentParams, error) {
	if strings.TrimSpace(req.IdempotencyKey) == "" {
		return nil, fmt.Errorf("%w: idempotency key is required", ErrInvalidChargeRequest)
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
	typ, ok := stripeBankTransferTypes[cur]
	if !ok {
		return nil, fmt.Errorf("%w: Stripe takes no bank transfers in %s here", ErrBankTransferUnsupported, cur)
	}
	if strings.TrimSpace(req.CustomerRef) == "" {
		// A cash balance belongs to a Stripe customer: without one, the merchant's own
		// account is the only place to pay.
		return nil, fmt.Errorf("%w: a Stripe bank transfer needs the customer's Stripe id (provider_customer_id)", ErrBankTransferUnsupported)
	}
	bt := &stripe.PaymentIntentPaymentMethodOptionsCustomerBalanceBankTransferParams{Type: stripe.String(typ)}
	if typ == "eu_bank_transfer" {
		bt.EUBankTransfer = &stripe.PaymentIntentPaymentMethodOptionsCustomerBalanceBankTransferEUBankTransferParams{
			Country: stripe.String(s.euCountry)}
	}
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(minor),
		Currency:           stripe.String(strings.ToLower(cur)),
		Customer:           stripe.String(req.CustomerRef),
		PaymentMethodTypes: stripe.StringSlice([]string{"customer_balance"}),
		PaymentMethodData: &stripe.PaymentIntentPaymentMethodDataParams{
			Type:            stripe.String("customer_balance"),
			CustomerBalance: &stripe.PaymentIntentPaymentMethodDataCustomerBalanceParams{},
		},
		PaymentMethodOptions: &stripe.PaymentIntentPaymentMethodOptionsParams{
			CustomerBalance: &stripe.PaymentIntentPaymentMethodOptionsCustomerBalanceParams{
				FundingType:  stripe.String("bank_transfer"),
				BankTransfer: bt,
			},
		},
		Confirm: stripe.Bool(true),
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

// bankTransferInstructionsFromIntent reads a confirmed customer-balance PaymentIntent: its
// bank transfer instructions, or, when it already succeeded (the customer's cash balance
// covered it), a funding with nothing left to transfer (Funded).
func bankTransferInstructionsFromIntent(pi *stripe.PaymentIntent) (BankTransferInstructions, error) {
	cur := strings.ToUpper(string(pi.Currency))
	amount, err := money.FromMinor(pi.Amount, cur)
	if err != nil {
		return BankTransferInstructions{}, &ProviderError{Provider: StripeProviderName, Retryable: false,
			Err: fmt.Errorf("payment intent %s: %w", pi.ID, err)}
	}
	out := BankTransferInstructions{Provider: StripeProviderName, ProviderReference: pi.ID, Amount: amount, Currency: cur}
	var ins *stripe.PaymentIntentNextActionDisplayBankTransferInstructions
	if pi.NextAction != nil {
		ins = pi.NextAction.DisplayBankTransferInstructions
	}
	if ins == nil && pi.Status == stripe.PaymentIntentStatusSucceeded {
		// Paid at once from the customer's cash balance: a funding all the same, with
		// nothing left to transfer (payment_intent.succeeded reconciles it).
		out.Funded = true
		return out, nil
	}
	if ins == nil {
		return BankTransferInstructions{}, &ProviderError{Provider: StripeProviderName, Retryable: false, Code: "no_bank_transfer_instructions",
			Err: fmt.Errorf("payment intent %s (status %s) came back without bank transfer instructions: is customer_balance enabled on the account?", pi.ID, pi.Status)}
	}
	out.Type, out.Reference, out.HostedInstructionsURL = string(ins.Type), ins.Reference, ins.HostedInstructionsURL
	for _, fa := range ins.FinancialAddresses {
		switch {
		case fa == nil:
		case fa.IBAN != nil && out.IBAN == "":
			out.IBAN, out.BIC, out.Country, out.AccountHolder = fa.IBAN.IBAN, fa.IBAN.BIC, fa.IBAN.Country, fa.IBAN.AccountHolderName
		case fa.SortCode != nil && out.SortCode == "" && out.IBAN == "":
			out.SortCode, out.AccountNumber, out.AccountHolder = fa.SortCode.SortCode, fa.SortCode.AccountNumber, fa.SortCode.AccountHolderName
		case fa.ABA != nil && out.RoutingNumber == "" && out.IBAN == "" && out.SortCode == "":
			out.RoutingNumber, out.AccountNumber, out.BankName = fa.ABA.RoutingNumber, fa.ABA.AccountNumber, fa.ABA.BankName
		}
	}
	if out.IBAN == "" && out.AccountNumber == "" {
		return BankTransferInstructions{}, &ProviderError{Provider: StripeProviderName, Retryable: false, Code: "no_bank_transfer_instructions",
			Err: fmt.Errorf("payment intent %s: the bank transfer instructions name no account", pi.ID)}
	}
	return out, nil
}

// BankTransferReceived retrieves the PaymentIntent and returns what it has received.
func (s *Stripe) BankTransferReceived(ctx context.Context, reference string) (Funding, error) {
	if !strings.HasPrefix(reference, "pi_") {
		return Funding{}, fmt.Errorf("%w: %q is not a PaymentIntent id", ErrInvalidChargeRequest, reference)
	}
	var status atomic.Int64
	params := &stripe.PaymentIntentParams{}
	params.Context = context.WithValue(ctx, statusKey{}, &status)
	pi, err := s.api.PaymentIntents.Get(reference, params)
	if err != nil {
		_, perr := chargeResultFromError(err, int(status.Load()))
		if perr == nil {
			perr = &ProviderError{Provider: StripeProviderName, HTTPStatus: int(status.Load()), Retryable: true, Err: err}
		}
		return Funding{}, perr
	}
	return fundingFromIntent(pi)
}

// fundingFromIntent is what a customer-balance PaymentIntent has received: everything
// once it succeeded, else its amount less next_action's amount_remaining.
func fundingFromIntent(pi *stripe.PaymentIntent) (Funding, error) {
	cur := strings.ToUpper(string(pi.Currency))
	var minor int64
	switch {
	case pi.Status == stripe.PaymentIntentStatusSucceeded:
		minor = pi.AmountReceived
		if minor == 0 {
			minor = pi.Amount
		}
	case pi.NextAction != nil && pi.NextAction.DisplayBankTransferInstructions != nil:
		minor = pi.Amount - pi.NextAction.DisplayBankTransferInstructions.AmountRemaining
	}
	if minor < 0 {
		minor = 0
	}
	received, err := money.FromMinor(minor, cur)
	if err != nil {
		return Funding{}, fmt.Errorf("payment intent %s: %w", pi.ID, err)
	}
	return Funding{Known: true, Received: received, Currency: cur, Complete: pi.Status == stripe.PaymentIntentStatusSucceeded}, nil
}

// isCustomerBalanceIntent reports whether a PaymentIntent is paid from the customer's
// cash balance (a bank transfer).
func isCustomerBalanceIntent(pi *stripe.PaymentIntent) bool {
	return slices.Contains(pi.PaymentMethodTypes, "customer_balance")
}

// parseFundingEvent converts the bank-transfer events: payment_intent.partially_funded
// and the payment_intent.succeeded of a customer-balance intent (the intent's running
// total), and customer_cash_balance_transaction.created of type applied_to_payment (money
// moved into an intent; its total is asked of Stripe). A cash-balance transaction of any
// other type (funded: money arrived in the balance and is not yet the invoice's; Stripe
// applies it to the intent and says so with applied_to_payment) is ignored.
func parseFundingEvent(ev stripe.Event) (Event, bool, error) {
	switch ev.Type {
	case stripe.EventTypePaymentIntentPartiallyFunded, stripe.EventTypePaymentIntentSucceeded:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return Event{}, false, fmt.Errorf("stripe webhook: event %s: decoding payment intent: %w", ev.ID, err)
		}
		if pi.ID == "" {
			return Event{}, false, fmt.Errorf("stripe webhook: event %s (%s) has no payment intent id", ev.ID, ev.Type)
		}
		f, err := fundingFromIntent(&pi)
		if err != nil {
			return Event{}, false, fmt.Errorf("stripe webhook: event %s: %w", ev.ID, err)
		}
		out := Event{ID: ev.ID, Provider: StripeProviderName, Reference: pi.ID, Status: StatusPending, Funding: &f}
		if f.Complete {
			out.Status = StatusSettled
		}
		if len(pi.Metadata) > 0 {
			out.Metadata = make(map[string]string, len(pi.Metadata))
			for k, v := range pi.Metadata {
				out.Metadata[k] = v
			}
		}
		return out, true, nil
	case stripe.EventTypeCustomerCashBalanceTransactionCreated:
		var tx stripe.CustomerCashBalanceTransaction
		if err := json.Unmarshal(ev.Data.Raw, &tx); err != nil {
			return Event{}, false, fmt.Errorf("stripe webhook: event %s: decoding cash balance transaction: %w", ev.ID, err)
		}
		if tx.Type != stripe.CustomerCashBalanceTransactionTypeAppliedToPayment {
			return Event{}, false, nil
		}
		if tx.AppliedToPayment == nil || tx.AppliedToPayment.PaymentIntent == nil || tx.AppliedToPayment.PaymentIntent.ID == "" {
			return Event{}, false, fmt.Errorf("stripe webhook: event %s: cash balance transaction %s names no payment intent", ev.ID, tx.ID)
		}
		return Event{ID: ev.ID, Provider: StripeProviderName, Reference: tx.AppliedToPayment.PaymentIntent.ID, Status: StatusPending,
			Funding: &Funding{Currency: strings.ToUpper(string(tx.Currency))}}, true, nil
	}
	return Event{}, false, nil
}
