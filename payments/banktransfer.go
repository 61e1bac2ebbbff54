package payments

import (
	"context"
	"errors"

	"github.com/shopspring/decimal"
)

// ErrBankTransferUnsupported is wrapped by the error RequestBankTransfer returns when the
// provider cannot take a bank transfer for the request (a currency it has no bank
// transfers in). Nothing was created: the caller falls back to the merchant's own account
// and manual reconciliation.
var ErrBankTransferUnsupported = errors.New("the provider does not take bank transfers for this request")

// BankTransfers is a provider that takes an invoice's payment by bank transfer into an
// account of its own and reports the money as it arrives ("if you connected a PSP, no
// action is required on your part"): Stripe's customer-balance bank transfers, or the
// simulated provider's virtual IBANs. The incoming money is reported as Events whose
// Funding is set, delivered like every other provider event.
type BankTransfers interface {
	// RequestBankTransfer creates — once per idempotency key — the funding the customer
	// pays into and returns where to pay and what to write on the transfer. Errors: a
	// plain error wrapping ErrBankTransferUnsupported (nothing to retry), ErrInvalidChargeRequest
	// (a bug in the caller), or a *ProviderError (retry when Retryable).
	RequestBankTransfer(ctx context.Context, req BankTransferRequest) (BankTransferInstructions, error)
	// BankTransferReceived returns what the funding named by reference has received so far
	// (for an event that reports a movement without the funding's running total).
	BankTransferReceived(ctx context.Context, reference string) (Funding, error)
}

// BankTransferRequest asks for the bank-transfer funding of an invoice.
type BankTransferRequest struct {
	// IdempotencyKey makes the request safe to repeat ("inv_123:bank_transfer").
	IdempotencyKey string
	// CustomerRef is the provider's customer id (Stripe "cus_…", required by Stripe); the
	// simulated provider uses Metadata["customer_id"] when it is empty.
	CustomerRef string
	// PaymentMethodRef is the provider id of the customer's bank-transfer payment method,
	// if any (the simulated provider's behaviour is chosen by it).
	PaymentMethodRef string
	// Amount and Currency are what the invoice asks for.
	Amount   decimal.Decimal
	Currency string
	// Description is shown on the provider's dashboard.
	Description string
	// Metadata is stored with the funding (invoice_id, customer_id) and echoed in events.
	Metadata map[string]string
}

// BankTransferInstructions say where the customer sends the money. Which account fields
// are set depends on the transfer's network: IBAN (and BIC) for SEPA, SortCode and
// AccountNumber in the UK, RoutingNumber and AccountNumber (ABA) in the US.
type BankTransferInstructions struct {
	// Provider names the provider ("stripe", "simulated").
	Provider string `json:"provider"`
	// ProviderReference is the provider's id of the funding ("pi_…", "sbt_…"); events
	// about it carry it as Event.Reference.
	ProviderReference string `json:"provider_reference"`
	// Type is the transfer type ("eu_bank_transfer", "gb_bank_transfer", "us_bank_transfer").
	Type string `json:"type"`
	// Amount and Currency are what is asked for.
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	// Reference is what the customer must write on the transfer (it is how the provider
	// matches the money to the invoice).
	Reference     string `json:"reference"`
	AccountHolder string `json:"account_holder,omitempty"`
	IBAN          string `json:"iban,omitempty"`
	BIC           string `json:"bic,omitempty"`
	Country       string `json:"country,omitempty"`
	SortCode      string `json:"sort_code,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	BankName      string `json:"bank_name,omitempty"`
	// HostedInstructionsURL is a page of the provider's that shows the instructions.
	HostedInstructionsURL string `json:"hosted_instructions_url,omitempty"`
	// Funded is true when the funding had received all it asked for when it was made (a
	// Stripe intent paid at once from the customer's cash balance): there is no account to
	// pay to and nothing to email; the provider's success event reconciles the invoice.
	Funded bool `json:"funded,omitempty"`
}

// Funding is what an Event about a bank-transfer funding says: the money the funding has
// received so far. A funding's reports only grow; an event seen late, or twice, reports
// no more than is already known, so whoever applies them records the difference between
// Received and what it recorded before (and nothing when that is not positive).
type Funding struct {
	// Known is false when the event says money moved but not the running total (a Stripe
	// cash-balance transaction applied to the PaymentIntent): ask the provider
	// (BankTransferReceived).
	Known bool `json:"known"`
	// Received is the running total received for the funding, in Currency.
	Received decimal.Decimal `json:"received"`
	Currency string          `json:"currency"`
	// Complete is true when the funding has received all it asked for.
	Complete bool `json:"complete"`
}
