// Package steps holds the inputs and results of the workflows' activities — the steps of
// a payment — shared by workflows/ (which may not import activities/: it does I/O) and
// activities/. Clients never see them; what clients need (workflow names, inputs,
// queries, Updates, error types) is in contracts/.
package steps

import (
	"time"

	"payorch/contracts"
)

// InvoiceSnapshot is the invoice as the workflow sees it after an activity.
type InvoiceSnapshot struct {
	InvoiceID      string `json:"invoice_id"`
	CustomerID     string `json:"customer_id"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	Status         string `json:"status"`
	Currency       string `json:"currency"`
	Total          string `json:"total"`
	AmountPaid     string `json:"amount_paid"`
	AmountDue      string `json:"amount_due"`
	// Settled is true when nothing is due.
	Settled      bool                        `json:"settled"`
	Transactions []contracts.TransactionView `json:"transactions"`
	// Hold is set when the invoice must not be collected automatically now
	// (contracts.HoldSubscriptionErrored); HoldReason says why.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"hold_reason,omitempty"`
}

// InvoiceRef names an invoice (input of several activities).
type InvoiceRef struct {
	InvoiceID string `json:"invoice_id"`
}

// DebitWalletInput asks the ledger to take what the wallet can pay of an invoice for attempt n.
type DebitWalletInput struct {
	InvoiceID string `json:"invoice_id"`
	Attempt   int    `json:"attempt"`
}

// WalletDebit is what the wallet paid for an attempt (DebitWallet).
type WalletDebit struct {
	Amount              string `json:"amount"`
	WalletTransactionID string `json:"wallet_transaction_id,omitempty"`
	// Skipped says why nothing was taken (ledger.Skip*).
	Skipped string `json:"skipped,omitempty"`
	// Replayed is true when the attempt's debit had been decided by an earlier call.
	Replayed bool `json:"replayed,omitempty"`
}

// WalletRefund is what a voided invoice gave back to the wallet (RefundWalletDebits).
type WalletRefund struct {
	Amount              string `json:"amount"`
	WalletTransactionID string `json:"wallet_transaction_id,omitempty"`
}

// ChargeRef names charge n of an invoice.
type ChargeRef struct {
	InvoiceID    string `json:"invoice_id"`
	ChargeNumber int    `json:"charge_number"`
}

// PreparedCharge is the pending transaction of a charge, created before the provider is called.
type PreparedCharge struct {
	Transaction contracts.TransactionView `json:"transaction"`
	// Method is card or direct_debit; Last4 labels a card ("card •••• 4242").
	Method string `json:"method"`
	Last4  string `json:"last4,omitempty"`
	// NothingDue is true when there is nothing to charge (paid meanwhile, or closed).
	NothingDue bool `json:"nothing_due"`
	// Hold is contracts.HoldPaymentMethodMissing when there is no payment method of the invoice's
	// method to charge (no transaction was created); HoldReason says why.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"hold_reason,omitempty"`
}

// VoidInput is the activity form of VoidRequest.
type VoidInput struct {
	InvoiceID string `json:"invoice_id"`
	Reason    string `json:"reason,omitempty"`
}

// ProviderRefusedCode is the provider_code of a charge the provider refused for good (its
// credentials revoked, the account misconfigured): an operator decides what follows.
const ProviderRefusedCode = "provider_refused"

// ProviderFailureInput fails charge n with provider_error: the provider refused it for
// good (Code, Message say how) and no retry can heal it.
type ProviderFailureInput struct {
	InvoiceID    string `json:"invoice_id"`
	ChargeNumber int    `json:"charge_number"`
	Code         string `json:"code,omitempty"`
	Message      string `json:"message"`
}

// ChargeOutcome is the result of sending a charge (or of a provider event).
type ChargeOutcome struct {
	Transaction contracts.TransactionView `json:"transaction"`
	Snapshot    InvoiceSnapshot           `json:"snapshot"`
	// Paid is set (ChargeAttempt) when the charge paid what was due and the invoice was
	// marked paid in the same transaction.
	Paid *ClosingResult `json:"paid,omitempty"`
}

// StartAttemptInput names collection attempt n of an invoice; Manual is an operator's
// retry (it charges a held invoice anyway).
type StartAttemptInput struct {
	InvoiceID string `json:"invoice_id"`
	Attempt   int    `json:"attempt"`
	Manual    bool   `json:"manual,omitempty"`
}

// AttemptStart is what StartAttempt did in one transaction (invoices.AttemptStart):
// exactly one of Closed, Hold, Paid, BankTransfer, or Charge says what follows.
type AttemptStart struct {
	Snapshot InvoiceSnapshot `json:"snapshot"`
	// Closed: the invoice was paid or voided before the attempt; nothing was done.
	Closed bool `json:"closed,omitempty"`
	// Hold (contracts.HoldSubscriptionErrored): an automatic attempt must wait; nothing was done.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"hold_reason,omitempty"`
	// WalletPaid is what the wallet paid in this attempt ("0" when nothing).
	WalletPaid string `json:"wallet_paid"`
	// Paid: the wallet covered what was due and the invoice is marked paid.
	Paid *ClosingResult `json:"paid,omitempty"`
	// BankTransfer: the instructions are queued; the invoice waits for a reconciliation.
	BankTransfer bool `json:"bank_transfer,omitempty"`
	// Charge is the charge of the rest (to send when its transaction is pending).
	Charge PreparedCharge `json:"charge"`
}

// ProviderEventInput applies an asynchronous provider outcome to an invoice.
type ProviderEventInput struct {
	InvoiceID string                  `json:"invoice_id"`
	Event     contracts.ProviderEvent `json:"event"`
}

// ReconcileInput is the activity form of ReconcileRequest with its idempotency key.
type ReconcileInput struct {
	InvoiceID string                     `json:"invoice_id"`
	Key       string                     `json:"key"`
	Request   contracts.ReconcileRequest `json:"request"`
}

// ClosingResult says what a status change did.
type ClosingResult struct {
	InvoiceStatus      string `json:"invoice_status"`
	Changed            bool   `json:"changed"`
	SubscriptionStatus string `json:"subscription_status,omitempty"`
	// ResumeInvoices are the subscription's other open invoices to tell that it is active
	// again (SignalSubscriptionReactivated), when a payment left it active.
	ResumeInvoices []string `json:"resume_invoices,omitempty"`
}

// ScheduleInput records the attempt count and next retry on the invoice.
type ScheduleInput struct {
	InvoiceID   string     `json:"invoice_id"`
	Attempts    int        `json:"attempts"`
	NextRetryAt *time.Time `json:"next_retry_at,omitempty"`
}
