package contracts

// WalletLoadWorkflow is the workflow type that charges a paid wallet load and credits the
// wallet when the charge settles.
const WalletLoadWorkflow = "WalletLoad"

// WalletLoadWorkflowID is the id of a load's workflow: one per load.
func WalletLoadWorkflowID(loadID string) string { return "wallet-load/" + loadID }

// Activity names of the WalletLoad workflow and of the ledger activities the invoice
// payment workflow calls (registered from activities.Activities).
const (
	ActivityPrepareWalletLoad       = "PrepareWalletLoad"
	ActivityChargeWalletLoad        = "ChargeWalletLoad"
	ActivityCompleteWalletLoad      = "CompleteWalletLoad"
	ActivityResolveWalletLoadCharge = "ResolveWalletLoadCharge"
)

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

// LoadCharge is a wallet load's charge outcome as the workflow carries it: the JSON of
// payments.ChargeResult, without importing the provider package into workflow code.
type LoadCharge struct {
	// Status is settled, pending or failed.
	Status       string `json:"status"`
	Reference    string `json:"reference"`
	ErrorType    string `json:"error_type,omitempty"`
	HardDecline  bool   `json:"hard_decline,omitempty"`
	ProviderCode string `json:"provider_code,omitempty"`
	DeclineCode  string `json:"decline_code,omitempty"`
	Message      string `json:"message,omitempty"`
}

// CompleteWalletLoadInput is the input of ActivityCompleteWalletLoad: a load's charge outcome.
type CompleteWalletLoadInput struct {
	LoadID string     `json:"load_id"`
	Result LoadCharge `json:"result"`
}
