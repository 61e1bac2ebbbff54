package mail

import "time"

// The data of the outbox's internal email.* events, as the mailer reads them. They match the
// JSON the emitters write (invoices.PaymentFailedEmail, invoices.BankTransferEmail,
// ledger.Receipt); fields the emails do not use are ignored. The customer's email, name and
// language are read from the customers table when the event has a customer id (the table
// wins for the language and fills what the event lacks); the portal link defaults to
// PAYORCH_PORTAL_URL/<customer id>.

// PaymentFailedData is the data of an outbox.EmailPaymentFailed event (invoices writes it
// as invoices.PaymentFailedEmail): an invoice payment failed. The customer gets the "fix your
// payment method" email with their portal link when the error type is one the customer can
// fix (expired, declined, insufficient funds, authentication required, invalid, not
// supported), a neutral email that gives no reason for fraud (Fraud set, or error_type
// "fraud"), and nothing for the other error types.
type PaymentFailedData struct {
	Invoice     Invoice          `json:"invoice"`
	Transaction *TransactionInfo `json:"transaction,omitempty"`
	Customer    Customer         `json:"customer"`
	// ErrorType is one of the eleven error types (empty for fraud: the event reveals nothing).
	ErrorType string `json:"error_type,omitempty"`
	Fraud     bool   `json:"fraud,omitempty"`
	// PortalURL is the customer's portal page; empty: PAYORCH_PORTAL_URL/<customer id>.
	PortalURL string `json:"portal_url,omitempty"`
}

// TransactionInfo is the part of the failed transaction the email uses: a decline code
// "insufficient_funds" makes it say so.
type TransactionInfo struct {
	DeclineCode *string `json:"decline_code,omitempty"`
	// PaymentMethodID is the method that was charged: a failure with the same cause on the
	// same method as the last email about the invoice sends none (SameCause).
	PaymentMethodID *string `json:"payment_method_id,omitempty"`
}

// SameCause reports whether two payment failures of one invoice have one cause for the
// customer: the same error type (or both reveal nothing), the same decline code and the
// same payment method. The customer was told about the first; a support agent's manual
// retry that fails the same way does not email them again.
func SameCause(a, b PaymentFailedData) bool {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var ad, ap, bd, bp string
	if a.Transaction != nil {
		ad, ap = str(a.Transaction.DeclineCode), str(a.Transaction.PaymentMethodID)
	}
	if b.Transaction != nil {
		bd, bp = str(b.Transaction.DeclineCode), str(b.Transaction.PaymentMethodID)
	}
	return a.Invoice.ID == b.Invoice.ID && a.ErrorType == b.ErrorType && a.Fraud == b.Fraud && ad == bd && ap == bp
}

// BankTransferData is the data of an outbox.EmailBankTransferInstructions event (invoices
// writes it as invoices.BankTransferEmail): the invoice to pay by bank transfer. The
// account to pay to is Instructions when the event has it, else the operator's
// (PAYORCH_BANK_*); the reference is Reference, else Instructions.Reference, else the
// invoice id.
type BankTransferData struct {
	Invoice      Invoice           `json:"invoice"`
	Customer     Customer          `json:"customer"`
	Reference    string            `json:"reference,omitempty"`
	Instructions *BankInstructions `json:"instructions,omitempty"`
	PortalURL    string            `json:"portal_url,omitempty"`
}

// BankInstructions say where to send a bank transfer.
type BankInstructions struct {
	AccountHolder string `json:"account_holder,omitempty"`
	IBAN          string `json:"iban,omitempty"`
	BIC           string `json:"bic,omitempty"`
	BankName      string `json:"bank_name,omitempty"`
	// SortCode (UK), RoutingNumber (US ABA) and AccountNumber name an account that has
	// no IBAN (a payment provider's GBP or USD bank transfer).
	SortCode      string `json:"sort_code,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	Reference     string `json:"reference,omitempty"`
}

// LoadReceiptData is the data of an outbox.EmailLoadReceipt event: the receipt of a paid
// wallet load, as the ledger returns it (ledger.Receipt). The customer is the event's.
type LoadReceiptData struct {
	ID       string    `json:"id"`
	Number   string    `json:"number,omitempty"`
	WalletID string    `json:"wallet_id,omitempty"`
	LoadID   string    `json:"load_id,omitempty"`
	Amount   string    `json:"amount"`
	Currency string    `json:"currency"`
	IssuedAt time.Time `json:"issued_at"`
	// Customer overrides or completes the event's customer (optional).
	Customer  *Customer `json:"customer,omitempty"`
	PortalURL string    `json:"portal_url,omitempty"`
}

// Invoice is the part of an invoice (as the API returns it) the emails use; other fields
// are ignored.
type Invoice struct {
	ID string `json:"id"`
	// Number is the invoice's human-readable number (INV-2026-000042), shown to people.
	Number     string `json:"number,omitempty"`
	Currency   string `json:"currency"`
	Total      string `json:"total"`
	AmountDue  string `json:"amount_due"`
	AmountPaid string `json:"amount_paid,omitempty"`
}

// Label is what the customer reads as the invoice's name: its number, or its id for an
// event written before invoices had numbers.
func (i Invoice) Label() string {
	if i.Number != "" {
		return i.Number
	}
	return i.ID
}

// Customer is who the email goes to. With an id, missing fields come from the customers table.
type Customer struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	Language string `json:"language,omitempty"`
}

// AutoTopUpDisabledData is the data of an outbox.EmailAutoTopUpDisabled event (the ledger
// writes it as ledger.AutoTopUpDisabledEmail): the wallet's auto top-up switched itself off
// after Failures failed auto loads in a row. The customer is the event's.
type AutoTopUpDisabledData struct {
	WalletID  string `json:"wallet_id"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	Failures  int    `json:"failures"`
	PortalURL string `json:"portal_url,omitempty"`
}
