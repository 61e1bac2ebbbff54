package contracts

// WalletLoadWorkflow is the workflow type that charges a paid wallet load and credits the
// wallet when the charge settles.
const WalletLoadWorkflow = "WalletLoad"

// WalletLoadWorkflowID is the id of a load's workflow: one per load.
func WalletLoadWorkflowID(loadID string) string { return "wallet-load/" + loadID }

// WalletLoadInput is the WalletLoad workflow's input.
type WalletLoadInput struct {
	LoadID string `json:"load_id"`
}

// WalletLoadResult is the load as the workflow leaves it (also what its activities return,
// decoded from the ledger's load).
type WalletLoadResult struct {
	ID     string `json:"id"`
	Amount string `json:"amount"`
	// Currency of the amount.
	Currency string `json:"currency"`
	// Status is settled, failed, or pending (a direct debit whose outcome comes later).
	Status              string `json:"status"`
	ErrorType           string `json:"error_type"`
	WalletTransactionID string `json:"wallet_transaction_id"`
	InvoiceID           string `json:"invoice_id"`
}
