// Package declines is the one policy for a failed payment: the eleven error types a
// transaction can fail with and, per type (and decline code where it matters), what
// happens next — a hard decline that waits for a new payment method, a retry on the
// schedule, an email to the customer (for fraud one that reveals nothing), never a retry
// (fraud), and whether the failure uses up an attempt of the retry schedule.
//
// Every other package asks this one: payments (its Stripe mapping table's Hard column
// must agree with IsHard row by row), invoices (what is stored and emailed), mail (which
// email), and the payment workflow (what it waits for). It imports only the standard
// library, so deterministic workflow code may use it.
package declines

import "slices"

// Type is one of the eleven normalized failure reasons of a transaction.
type Type string

// The eleven error types, as the billing platform documents them.
const (
	AuthenticationRequired          Type = "authentication_required"
	PaymentMethodAuthorizationError Type = "payment_method_authorization_error"
	PaymentMethodDeclined           Type = "payment_method_declined"
	PaymentMethodExpired            Type = "payment_method_expired"
	PaymentMethodInvalid            Type = "payment_method_invalid"
	PaymentMethodNotSupported       Type = "payment_method_not_supported"
	Declined                        Type = "declined"
	Fraud                           Type = "fraud"
	ProcessingError                 Type = "processing_error"
	ProviderError                   Type = "provider_error"
	Unknown                         Type = "unknown"
)

// All lists the eleven error types in documentation order.
var All = []Type{
	AuthenticationRequired, PaymentMethodAuthorizationError, PaymentMethodDeclined,
	PaymentMethodExpired, PaymentMethodInvalid, PaymentMethodNotSupported, Declined,
	Fraud, ProcessingError, ProviderError, Unknown,
}

// Valid reports whether t is one of the eleven types.
func (t Type) Valid() bool { return slices.Contains(All, t) }

// Budget says what a failure of a type uses up.
type Budget string

const (
	// BudgetAttempts: the failure is one of the schedule's attempts (1 + retries).
	BudgetAttempts Budget = "attempts"
	// BudgetProviderOutages: an infrastructure failure that outlived the charge
	// activity's own retries. It is not the customer's attempt; it uses up the separate
	// budget of provider outages, which is as long as the schedule (see the workflow).
	BudgetProviderOutages Budget = "provider_outages"
)

// Policy is what happens after a failure.
type Policy struct {
	// Type is the error type.
	Type Type
	// Hard: retrying the same payment method is pointless (or forbidden by card-network
	// rules) until the customer acts; the payment method is marked errored and the
	// workflow waits for a new one (the schedule's deadline still applies).
	Hard bool
	// Retried: the failure is retried on the schedule (soft declines, processing and
	// provider errors).
	Retried bool
	// NeverRetried: the failure ends automatic collection at once (fraud).
	NeverRetried bool
	// Emailed: the customer gets an email about the failure.
	Emailed bool
	// CustomerCanFix: the email says what to fix and links to the portal (replace or
	// authenticate the card, add funds).
	CustomerCanFix bool
	// RevealsNothing: the email (and the event behind it) gives no reason (fraud).
	RevealsNothing bool
	// Budget is what the failure uses up.
	Budget Budget
}

// CountsAgainstBudget reports whether the failure uses up one of the schedule's attempts.
func (p Policy) CountsAgainstBudget() bool { return p.Budget == BudgetAttempts }

// byType is THE per-type policy; hardCodes refines it per decline code.
var byType = map[Type]Policy{
	AuthenticationRequired: {Hard: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	// The issuer could not authorize (not reachable, PIN): may work later; nothing for
	// the customer to fix.
	PaymentMethodAuthorizationError: {Retried: true, Budget: BudgetAttempts},
	PaymentMethodDeclined:           {Retried: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	PaymentMethodExpired:            {Hard: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	PaymentMethodInvalid:            {Hard: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	PaymentMethodNotSupported:       {Hard: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	Declined:                        {Retried: true, Emailed: true, CustomerCanFix: true, Budget: BudgetAttempts},
	// Fraud: never retried, the card is marked errored, and the customer gets a neutral
	// email that reveals nothing.
	Fraud:           {Hard: true, NeverRetried: true, Emailed: true, RevealsNothing: true, Budget: BudgetAttempts},
	ProcessingError: {Retried: true, Budget: BudgetAttempts},
	ProviderError:   {Retried: true, Budget: BudgetProviderOutages},
	Unknown:         {Retried: true, Budget: BudgetAttempts},
}

// hardCodes are the provider codes (Stripe decline or error codes; the networks' "do not
// reattempt" answers) that make a failure of any type hard: the card is lost, stolen,
// blocked, or its holder revoked the merchant's authorization.
var hardCodes = []string{
	"lost_card", "stolen_card", "pickup_card", "restricted_card", "do_not_try_again",
	"pin_try_exceeded", "merchant_blacklist", "debit_not_authorized",
	"revocation_of_authorization", "revocation_of_all_authorizations", "stop_payment_order",
	"testmode_decline",
}

// HardCodes returns the provider codes that make any failure a hard decline.
func HardCodes() []string { return slices.Clone(hardCodes) }

// Of returns the policy of an error type (an unknown or empty type is Unknown's).
func Of(t Type) Policy {
	p, ok := byType[t]
	if !ok {
		t = Unknown
		p = byType[Unknown]
	}
	p.Type = t
	return p
}

// For returns the policy of a failure of type t with the provider's codes (decline code,
// error code; either may be empty): a hard code makes a retried type hard.
func For(t Type, codes ...string) Policy {
	p := Of(t)
	if !p.Hard {
		for _, c := range codes {
			if c != "" && slices.Contains(hardCodes, c) {
				p.Hard, p.Retried = true, false
				break
			}
		}
	}
	return p
}

// IsHard reports whether a failure of type t with these provider codes is a hard decline.
func IsHard(t Type, codes ...string) bool { return For(t, codes...).Hard }
