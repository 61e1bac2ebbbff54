package contracts

import "time"

// CreditExpiryWorkflow is the workflow type that expires a credit: it sleeps until the
// credit's expires_at and then debits what is left of it.
const CreditExpiryWorkflow = "CreditExpiry"

// CreditExpiryWorkflowID is the id of a credit's expiry workflow: one per expiring credit
// (its wallet transaction id).
func CreditExpiryWorkflowID(creditTxID string) string { return "credit-expiry/" + creditTxID }

// CreditExpiryInput is the CreditExpiry workflow's input.
type CreditExpiryInput struct {
	// TransactionID is the expiring credit (wtx_…).
	TransactionID string `json:"transaction_id"`
	// ExpiresAt is when it expires, as the ledger holds it.
	ExpiresAt time.Time `json:"expires_at"`
}

// CreditExpiryResult is what the expiry did (also what its activity returns).
type CreditExpiryResult struct {
	TransactionID string `json:"transaction_id"`
	// Amount is what was debited (a decimal string; "0" when nothing was left).
	Amount string `json:"amount"`
	// ExpiryTransactionID is the expiry debit, when Amount > 0.
	ExpiryTransactionID string `json:"expiry_transaction_id,omitempty"`
	// Skipped says why nothing was debited: spent or reverted.
	Skipped string `json:"skipped,omitempty"`
}

// ExpireCreditInput is the input of the ExpireCredit activity: the credit, and the
// workflow's clock when its timer fired (the ledger refuses an expiry before expires_at).
type ExpireCreditInput struct {
	TransactionID string    `json:"transaction_id"`
	AsOf          time.Time `json:"as_of"`
}
