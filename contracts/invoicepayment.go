package contracts

import "time"

// InvoicePaymentInput is fixed when the workflow starts (and carried across continue-as-new).
type InvoicePaymentInput struct {
	InvoiceID      string `json:"invoice_id"`
	CustomerID     string `json:"customer_id"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Method is card, direct_debit or bank_transfer.
	Method string `json:"method"`
	// RetrySchedule is the delay before each automatic retry (2h, 12h, 24h by default).
	RetrySchedule []time.Duration `json:"retry_schedule"`
	// RetryByErrorType is the dunning policy's own schedule per retried error type
	// (package dunning), fixed when the workflow starts like RetrySchedule, its default.
	// Nil (a workflow started before the policy existed): RetrySchedule for every type.
	RetryByErrorType map[string][]time.Duration `json:"retry_by_error_type,omitempty"`
	// Carry is the state handed over by continue-as-new; nil on the first run.
	Carry *PaymentState `json:"carry,omitempty"`
	// HistoryLimit continues the workflow as new once its history has more events than
	// this (0: 8000), even before the server suggests it; tests lower it.
	HistoryLimit int `json:"history_limit,omitempty"`
}

// InvoicePaymentResult is the workflow's result when collection ends (paid or voided).
type InvoicePaymentResult struct {
	Status     string `json:"status"`
	AmountPaid string `json:"amount_paid"`
	Attempts   int    `json:"attempts"`
}

// PaymentMethodUpdated is the payload of SignalPaymentMethodUpdated.
type PaymentMethodUpdated struct {
	PaymentMethodID string `json:"payment_method_id"`
}

// ProviderEvent is the payload of SignalProviderEvent: an asynchronous PSP outcome.
type ProviderEvent struct {
	EventID      string `json:"event_id"`
	Reference    string `json:"reference"`
	Status       string `json:"status"`
	ErrorType    string `json:"error_type,omitempty"`
	HardDecline  bool   `json:"hard_decline,omitempty"`
	ProviderCode string `json:"provider_code,omitempty"`
	DeclineCode  string `json:"decline_code,omitempty"`
	Message      string `json:"message,omitempty"`
}

// RetryRequest is the argument of UpdateRetry.
type RetryRequest struct {
	// RequestedBy names who asked (an API key fingerprint, an operator).
	RequestedBy string `json:"requested_by,omitempty"`
}

// ReconcileRequest is the argument of UpdateReconcile: a payment received outside the PSP.
type ReconcileRequest struct {
	Amount    string    `json:"amount"`
	Reference string    `json:"reference"`
	PaidAt    time.Time `json:"paid_at"`
	// Method is bank_transfer (default) or manual.
	Method string `json:"method,omitempty"`
	// Funding is set (never by the API) when the payment provider reports money received
	// by bank transfer: the provider's id of the invoice's funding ("pi_…", "sbt_…").
	// Amount is then the funding's running total, and what it adds to the invoice's
	// reconciliations under that funding is recorded (invoices.ReconcileInput.Funding).
	Funding string `json:"funding,omitempty"`
}

// VoidRequest is the argument of UpdateVoid.
type VoidRequest struct {
	// Reason is why the invoice is voided; it is stored on the invoice (void_reason).
	Reason string `json:"reason,omitempty"`
}

// SubscriptionReactivated is the payload of SignalSubscriptionReactivated.
type SubscriptionReactivated struct {
	SubscriptionID string `json:"subscription_id"`
}

// TransactionView is one invoice transaction as the workflow reports it.
type TransactionView struct {
	ID           string    `json:"id"`
	Attempt      int       `json:"attempt"`
	Method       string    `json:"method"`
	Amount       string    `json:"amount"`
	Status       string    `json:"status"`
	ErrorType    string    `json:"error_type,omitempty"`
	HardDecline  bool      `json:"hard_decline,omitempty"`
	ProviderCode string    `json:"provider_code,omitempty"`
	DeclineCode  string    `json:"decline_code,omitempty"`
	Message      string    `json:"provider_message,omitempty"`
	Reference    string    `json:"provider_reference,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// UpdateOutcome is what UpdateRetry, UpdateReconcile and UpdateVoid return.
type UpdateOutcome struct {
	// Transaction is the transaction the update created (none for a void).
	Transaction *TransactionView `json:"transaction,omitempty"`
	// InvoiceStatus is the invoice's status afterwards (to_pay, paid, error, voided).
	InvoiceStatus string `json:"invoice_status"`
	// PaymentStatus is the workflow's payment status afterwards.
	PaymentStatus string `json:"payment_status"`
	AmountDue     string `json:"amount_due"`
	AmountPaid    string `json:"amount_paid"`
}

// PaymentState is the workflow's full state, returned by QueryState.
type PaymentState struct {
	InvoiceID     string `json:"invoice_id"`
	PaymentStatus string `json:"payment_status"`
	// InvoiceStatus mirrors the invoice row (to_pay, paid, error, voided).
	InvoiceStatus string `json:"invoice_status"`
	Currency      string `json:"currency"`
	Total         string `json:"total"`
	AmountPaid    string `json:"amount_paid"`
	AmountDue     string `json:"amount_due"`
	// ChargeNumber counts every charge request sent (the idempotency key's n).
	ChargeNumber int `json:"charge_number"`
	// FailedAttempts counts the failed attempts that use up the retry schedule.
	FailedAttempts int `json:"failed_attempts"`
	// MaxAttempts is 1 + the number of retries in the schedule (after a failure: in the
	// schedule that applied to it, DunningRule).
	MaxAttempts int `json:"max_attempts"`
	// FirstAttemptAt starts the schedule; Deadline is when it ends.
	FirstAttemptAt *time.Time `json:"first_attempt_at,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty"`
	NextRetryAt    *time.Time `json:"next_retry_at,omitempty"`
	// WaitingFor says in words what the workflow waits for.
	WaitingFor string `json:"waiting_for,omitempty"`
	// InFlight is the reference of a charge whose outcome is awaited, since InFlightSince.
	InFlight      string     `json:"in_flight,omitempty"`
	InFlightSince *time.Time `json:"in_flight_since,omitempty"`
	// LastPaymentMethodID is the last payment-method update seen (duplicates are ignored).
	LastPaymentMethodID string `json:"last_payment_method_id,omitempty"`
	// LastErrorType is the error type of the last failed charge.
	LastErrorType string `json:"last_error_type,omitempty"`
	// DunningRule names the schedule of the dunning policy that decided after the last
	// failed charge: its error type's own, or "default" (dunning.Decision.Rule).
	DunningRule string `json:"dunning_rule,omitempty"`
	// ProviderOutages counts the charges the provider left unanswered for the charge
	// activity's whole retry window; bounded like the attempts (MaxAttempts).
	ProviderOutages int `json:"provider_outages,omitempty"`
	// Hold says why collection waits in awaiting_action for a person (HoldSubscriptionErrored,
	// HoldPaymentMethodMissing, HoldProviderFailure, HoldStepFailed); HoldReason in words.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"hold_reason,omitempty"`
	// ResumeStepAt is when a step parked on an infrastructure failure runs again by
	// itself; StepResumes counts those runs (bounded).
	ResumeStepAt *time.Time `json:"resume_step_at,omitempty"`
	StepResumes  int        `json:"step_resumes,omitempty"`
	// PendingPaymentMethod is a payment-method update not yet acted on.
	PendingPaymentMethod bool `json:"pending_payment_method,omitempty"`
	// ResumeRequested is a subscription reactivation not yet acted on.
	ResumeRequested bool `json:"resume_requested,omitempty"`
	// PendingEvents are provider events received and not yet applied.
	PendingEvents []ProviderEvent `json:"pending_events,omitempty"`
	// SeenEvents are the latest provider event ids applied (duplicates are ignored).
	SeenEvents []string `json:"seen_events,omitempty"`
	// Transactions are the invoice's transactions in order.
	Transactions []TransactionView `json:"transactions"`
}
