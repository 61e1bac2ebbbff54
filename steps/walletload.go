package steps

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
