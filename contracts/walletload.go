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

// WalletAutoTopUpWorkflow is the workflow type a wallet's monthly auto top-up schedule
// starts: it makes the month's auto load and charges it (a WalletLoad child workflow).
const WalletAutoTopUpWorkflow = "WalletAutoTopUp"

// WalletAutoTopUpScheduleID is the id of a wallet's monthly auto top-up Temporal Schedule
// (also the id prefix of the workflows it starts): one per wallet.
func WalletAutoTopUpScheduleID(walletID string) string { return "wallet-auto-top-up/" + walletID }

// WalletAutoTopUpInput is the WalletAutoTopUp workflow's input.
type WalletAutoTopUpInput struct {
	WalletID string `json:"wallet_id"`
}

// WalletAutoTopUpResult is what a monthly auto top-up run did.
type WalletAutoTopUpResult struct {
	// Load is the month's auto load as its WalletLoad workflow left it (empty ID: none).
	Load WalletLoadResult `json:"load"`
	// Skipped says why no load was made (auto_top_up_off, no_monthly_load,
	// disabled, no_automated_payment_method).
	Skipped string `json:"skipped,omitempty"`
}
