// Package contracts is the one place for the names shared by the API, the starter CLI and
// the workers: workflow types and ids, signal, update and query names, and the search
// attributes operators filter on in the Temporal Web UI. It holds no logic.
package contracts

import "go.temporal.io/sdk/temporal"

// Search attributes registered on the Temporal namespace (make run and the test harness
// register them) and kept current by the workflows.
var (
	// SearchCustomerID is the invoice's customer (Keyword).
	SearchCustomerID = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	// SearchInvoiceID is the invoice (Keyword).
	SearchInvoiceID = temporal.NewSearchAttributeKeyKeyword("InvoiceId")
	// SearchSubscriptionID is the invoice's subscription, if any (Keyword).
	SearchSubscriptionID = temporal.NewSearchAttributeKeyKeyword("SubscriptionId")
	// SearchPaymentStatus is the payment's status: collecting, retry_scheduled,
	// awaiting_action, awaiting_transfer, processing, errored, paid, voided (Keyword).
	SearchPaymentStatus = temporal.NewSearchAttributeKeyKeyword("PaymentStatus")
	// SearchNextRetryAt is when the next automatic attempt runs (Datetime).
	SearchNextRetryAt = temporal.NewSearchAttributeKeyTime("NextRetryAt")
	// SearchWalletID is the wallet a wallet-load workflow tops up (Keyword). Wallet loads
	// also carry CustomerId and PaymentStatus (the load's status: pending, settled,
	// failed).
	SearchWalletID = temporal.NewSearchAttributeKeyKeyword("WalletId")
)

// SearchAttributeFlags are the dev-server flags that register the search attributes.
var SearchAttributeFlags = []string{
	"--search-attribute", "CustomerId=Keyword",
	"--search-attribute", "InvoiceId=Keyword",
	"--search-attribute", "SubscriptionId=Keyword",
	"--search-attribute", "PaymentStatus=Keyword",
	"--search-attribute", "NextRetryAt=Datetime",
	"--search-attribute", "WalletId=Keyword",
}

// InvoicePaymentWorkflow is the workflow type that collects one invoice.
const InvoicePaymentWorkflow = "InvoicePayment"

// InvoicePaymentWorkflowID is the id of an invoice's payment workflow.
func InvoicePaymentWorkflowID(invoiceID string) string { return "invoice-payment/" + invoiceID }

// Signals, updates and the query of the invoice payment workflow.
const (
	// SignalPaymentMethodUpdated tells the workflow the customer has a new default payment method.
	SignalPaymentMethodUpdated = "payment-method-updated"
	// SignalProviderEvent delivers an asynchronous PSP outcome (SEPA settled or failed).
	SignalProviderEvent = "provider-event"
	// SignalSubscriptionReactivated tells an invoice held because its subscription was
	// errored that the subscription is back in service: it is collected again at once.
	SignalSubscriptionReactivated = "subscription-reactivated"
	// UpdateRetry is a manual retry; the caller gets the attempt's outcome.
	UpdateRetry = "retry"
	// UpdateReconcile records a manual payment (bank transfer reconciliation).
	UpdateReconcile = "reconcile"
	// UpdateVoid stops collection and voids the invoice.
	UpdateVoid = "void"
	// QueryState returns the payment's full state.
	QueryState = "state"
)

// Payment statuses (the PaymentStatus search attribute).
const (
	PaymentCollecting       = "collecting"
	PaymentRetryScheduled   = "retry_scheduled"
	PaymentAwaitingAction   = "awaiting_action"
	PaymentAwaitingTransfer = "awaiting_transfer"
	PaymentProcessing       = "processing"
	PaymentErrored          = "errored"
	PaymentPaid             = "paid"
	PaymentVoided           = "voided"
)

// Error types carried by update rejections and non-retryable activity failures; the API
// maps them to HTTP statuses.
const (
	ErrInvoicePaid       = "invoice_paid"
	ErrInvoiceVoided     = "invoice_voided"
	ErrChargeInFlight    = "charge_in_flight"
	ErrAmountExceedsDue  = "amount_exceeds_due"
	ErrInvalidReconcile  = "invalid_reconciliation"
	ErrNoPaymentMethod   = "no_payment_method"
	ErrProviderMisconfig = "provider_misconfigured"
	// ErrProviderUnavailable: the provider could not be reached or answered 5xx/429
	// (retryable; when the charge activity's retry window runs out, an outage).
	ErrProviderUnavailable = "provider_unavailable"
	ErrInvoiceNotFound     = "invoice_not_found"
	// ErrInvalidData: the database refused the data of a step (SQLSTATE class 22 or 23:
	// invalid text such as a NUL byte or invalid UTF-8, a value out of range, a violated
	// constraint). No retry can heal it.
	ErrInvalidData = "invalid_data"
	// ErrReferenceReconciled: the bank (or on-session) reference was already reconciled
	// on the invoice for another amount; a reference counts once per invoice.
	ErrReferenceReconciled = "reference_already_reconciled"
	// ErrMisconfigured: the deployment is wrong (a missing table or column, a refused
	// login, no provider configured). No retry can heal it until an operator acts.
	ErrMisconfigured = "misconfigured"
	// ErrTemporarilyUnavailable: a step kept failing on an infrastructure error (the
	// database unreachable) for its whole retry window; the request may be sent again.
	ErrTemporarilyUnavailable = "temporarily_unavailable"
)

// Holds: why an unpaid invoice is not charged now; the workflow waits in awaiting_action
// (PaymentState.Hold, with the reason in HoldReason and WaitingFor).
const (
	// HoldSubscriptionErrored: the invoice's subscription is errored; its open invoices are
	// not collected until it is reactivated (SignalSubscriptionReactivated). A manual retry
	// still charges.
	HoldSubscriptionErrored = "subscription_errored"
	// HoldPaymentMethodMissing: the customer has no active payment method of the invoice's
	// method; a new one (SignalPaymentMethodUpdated) charges at once.
	HoldPaymentMethodMissing = "payment_method_missing"
	// HoldProviderFailure: the payment provider refused a charge in a way that cannot heal
	// by itself (revoked credentials, account misconfiguration), or stayed unreachable for
	// the provider-outage budget. An operator's manual retry charges again.
	HoldProviderFailure = "provider_failure"
	// HoldStepFailed: a step of the workflow failed for good (invalid data, a
	// misconfiguration, the database unreachable for the step's whole retry window). An
	// operator's manual retry runs it again.
	HoldStepFailed = "step_failed"
	// HoldProviderOutcomeOverdue: a pending charge (a direct debit) got no outcome from the
	// provider for much longer than it should take; check it at the provider (a late
	// event is still applied).
	HoldProviderOutcomeOverdue = "provider_outcome_overdue"
)
