package steps

import "time"

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

// CompleteWalletLoadInput is the input of CompleteWalletLoad: a load's charge outcome.
type CompleteWalletLoadInput struct {
	LoadID string     `json:"load_id"`
	Result LoadCharge `json:"result"`
}

// MonthlyTopUpInput is the input of RequestMonthlyTopUp: the wallet and the moment the
// schedule fired (its month, in UTC, is the load's period).
type MonthlyTopUpInput struct {
	WalletID string    `json:"wallet_id"`
	At       time.Time `json:"at"`
}

// MonthlyTopUp is what RequestMonthlyTopUp made: the month's pending auto load (empty
// LoadID: none, and Skipped says why).
type MonthlyTopUp struct {
	LoadID     string `json:"load_id,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	// Status is the load's status (pending until its WalletLoad workflow charges it).
	Status  string `json:"status,omitempty"`
	Skipped string `json:"skipped,omitempty"`
}
