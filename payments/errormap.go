package payments

import (
	"fmt"

	"payorch/declines"
)

// StripeDeclineRule is one row of the table that maps a Stripe error code or decline code
// to one of the eleven normalized error types.
//
// Stripe reports a failed payment with an error `code` (card_declined, expired_card,
// incorrect_cvc…) and, for issuer declines, a more precise `decline_code`
// (insufficient_funds, lost_card…). Both fields share one vocabulary: where the same
// string appears in both (expired_card, incorrect_cvc, processing_error,
// authentication_required…) it means the same thing, so one table serves both.
type StripeDeclineRule struct {
	// Code is the Stripe error code or decline code ("insufficient_funds").
	Code string
	// Type is the normalized error type.
	Type ErrorType
	// Hard is true when retrying the same payment method is pointless, or forbidden by
	// card-network rules, until the customer acts (see ChargeResult.HardDecline). It
	// documents the row: the decision is declines.IsHard(Type, Code), and a test checks
	// that every row agrees with it.
	Hard bool
	// Why is Stripe's documented meaning of the code, and the reason for the choice when
	// the mapping is a judgement call.
	Why string
}

// stripeDeclineTable is THE mapping from Stripe codes to error types. It follows
// https://docs.stripe.com/declines/codes (decline codes) and
// https://docs.stripe.com/error-codes (error codes), grouped by target type in the
// platform's documentation order. Soft declines may succeed on the scheduled retries
// (2h, 12h, 24h); hard declines should stop retrying the same payment method.
//
// Codes not listed map to ErrUnknown (soft). Keep each code on exactly one row: an init
// check panics on duplicates.
var stripeDeclineTable = []StripeDeclineRule{
	// --- authentication_required: the customer must authenticate (3-D Secure); an
	// off-session retry cannot succeed without them.
	{"authentication_required", ErrAuthenticationRequired, true,
		"the card was declined because the transaction requires authentication (e.g. 3-D Secure); off-session, the customer must come back and authenticate"},
	{"payment_intent_authentication_failure", ErrAuthenticationRequired, true,
		"error code: the provided payment method failed authentication"},

	// --- payment_method_authorization_error: no authorization could be created.
	{"approve_with_id", ErrPaymentMethodAuthorizationError, false,
		"the payment can't be authorized; Stripe says attempt it again, then the customer contacts the issuer (a soft authorization failure, not an authentication request)"},
	{"issuer_not_available", ErrPaymentMethodAuthorizationError, false,
		"the card issuer couldn't be reached; attempt the payment again"},
	{"offline_pin_required", ErrPaymentMethodAuthorizationError, false,
		"the card was declined because it requires a PIN"},
	{"online_or_offline_pin_required", ErrPaymentMethodAuthorizationError, false,
		"the card was declined because it requires a PIN"},
	{"incorrect_pin", ErrPaymentMethodAuthorizationError, false,
		"the PIN entered is incorrect (card-reader payments only)"},
	{"invalid_pin", ErrPaymentMethodAuthorizationError, false,
		"the PIN entered is incorrect (card-reader payments only)"},
	{"pin_try_exceeded", ErrPaymentMethodAuthorizationError, true,
		"the allowable number of PIN tries was exceeded; Stripe says the customer must use another card or payment method, hence hard"},

	// --- payment_method_declined: the card or account itself refused this payment (no
	// funds, limits reached, lost/stolen, on a block list).
	{"insufficient_funds", ErrPaymentMethodDeclined, false,
		"the card has insufficient funds to complete the purchase; funds may arrive before a retry"},
	{"card_velocity_exceeded", ErrPaymentMethodDeclined, false,
		"the customer exceeded the balance, credit limit or transaction amount limit available on the card"},
	{"withdrawal_count_limit_exceeded", ErrPaymentMethodDeclined, false,
		"the customer exceeded the balance or credit limit available on the card"},
	{"invalid_amount", ErrPaymentMethodDeclined, false,
		"the payment amount is invalid or exceeds the amount the card allows; the amount was validated by us, so this is the card's limit (like card_velocity_exceeded), not an unsupported kind of purchase"},
	{"lost_card", ErrPaymentMethodDeclined, true,
		"the card is reported lost (tell the customer it was a generic decline)"},
	{"stolen_card", ErrPaymentMethodDeclined, true,
		"the card is reported stolen (tell the customer it was a generic decline)"},
	{"pickup_card", ErrPaymentMethodDeclined, true,
		"the customer can't use this card (possibly reported lost or stolen)"},
	{"restricted_card", ErrPaymentMethodDeclined, true,
		"the customer can't use this card (possibly reported lost or stolen)"},
	{"merchant_blacklist", ErrPaymentMethodDeclined, true,
		"the payment matches a value on the merchant's Radar block list; the platform's payment_method_declined covers 'a payment method on a known block list'"},
	{"debit_not_authorized", ErrPaymentMethodDeclined, true,
		"error code (bank debits): the customer told their bank this payment was unauthorized"},

	// --- payment_method_expired
	{"expired_card", ErrPaymentMethodExpired, true,
		"the card has expired; the customer must use another card"},

	// --- payment_method_invalid: wrong or outdated details.
	{"incorrect_cvc", ErrPaymentMethodInvalid, true, "the CVC number is incorrect"},
	{"invalid_cvc", ErrPaymentMethodInvalid, true, "the CVC number is incorrect"},
	{"incorrect_number", ErrPaymentMethodInvalid, true, "the card number is incorrect"},
	{"invalid_number", ErrPaymentMethodInvalid, true, "the card number is incorrect"},
	{"invalid_expiry_month", ErrPaymentMethodInvalid, true, "the expiration month is invalid"},
	{"invalid_expiry_year", ErrPaymentMethodInvalid, true, "the expiration year is invalid"},
	{"incorrect_zip", ErrPaymentMethodInvalid, true, "the postal code is incorrect"},
	{"incorrect_address", ErrPaymentMethodInvalid, true, "error code: the address is incorrect"},
	{"invalid_account", ErrPaymentMethodInvalid, true,
		"the card, or the account the card is connected to, is invalid"},
	{"new_account_information_available", ErrPaymentMethodInvalid, true,
		"the card or its account is invalid (Stripe); networks send it when the card was reissued, and forbid retrying the old details, so the customer must update the card"},
	{"account_closed", ErrPaymentMethodInvalid, true,
		"error code (bank debits): the customer's bank account has been closed"},
	{"no_account", ErrPaymentMethodInvalid, true,
		"error code (bank debits): the bank account could not be located"},

	// --- payment_method_not_supported
	{"card_not_supported", ErrPaymentMethodNotSupported, true,
		"the card does not support this type of purchase"},
	{"currency_not_supported", ErrPaymentMethodNotSupported, true,
		"the card does not support the specified currency"},

	// --- declined: refused for another or an unstated reason.
	{"card_declined", ErrDeclined, false,
		"error code: the card was declined (used when no decline_code says why)"},
	{"generic_decline", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"do_not_honor", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"call_issuer", ErrDeclined, false,
		"the card was declined for an unknown reason; the customer contacts the issuer (no authorization problem is stated)"},
	{"do_not_try_again", ErrDeclined, true,
		"the card was declined for an unknown reason and the issuer asks not to retry"},
	{"transaction_not_allowed", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"security_violation", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"service_not_allowed", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"no_action_taken", ErrDeclined, false, "the card was declined for an unknown reason"},
	{"not_permitted", ErrDeclined, false, "the payment isn't permitted"},
	{"duplicate_transaction", ErrDeclined, false,
		"an identical transaction was submitted very recently"},
	{"revocation_of_authorization", ErrDeclined, true,
		"the cardholder revoked the merchant's authorization (network 'do not reattempt' code), hence hard"},
	{"revocation_of_all_authorizations", ErrDeclined, true,
		"the cardholder revoked all recurring authorizations (network 'do not reattempt' code), hence hard"},
	{"stop_payment_order", ErrDeclined, true,
		"the cardholder placed a stop-payment order (network 'do not reattempt' code), hence hard"},
	{"testmode_decline", ErrDeclined, true,
		"a Stripe test card was used in live mode; a genuine card must be used, hence hard"},
	{"card_decline_rate_limit_exceeded", ErrDeclined, false,
		"error code: the card was declined too many times; it can be tried again after 24 hours"},
	{"payment_method_provider_decline", ErrDeclined, false,
		"error code: the payment method's provider (not a card issuer) declined the payment"},

	// --- fraud: blocked as suspected fraud. Radar's default block rule (highest risk
	// level) and issuer fraud suspicions both surface as decline_code "fraudulent".
	{"fraudulent", ErrFraud, true,
		"the payment was declined because Stripe or the issuer suspects it is fraudulent; don't report details to the customer"},

	// --- processing_error: the issuer couldn't process it; a retry may work.
	{"processing_error", ErrProcessingError, false,
		"an error occurred while processing the card"},
	{"try_again_later", ErrProcessingError, false,
		"the card was declined for an unknown reason; attempt the payment again"},
	{"reenter_transaction", ErrProcessingError, false,
		"the payment couldn't be processed by the issuer for an unknown reason"},
}

// stripeDeclineIndex indexes stripeDeclineTable by code.
var stripeDeclineIndex = func() map[string]StripeDeclineRule {
	m := make(map[string]StripeDeclineRule, len(stripeDeclineTable))
	for _, r := range stripeDeclineTable {
		if _, dup := m[r.Code]; dup {
			panic(fmt.Sprintf("payments: duplicate Stripe mapping row %q", r.Code))
		}
		m[r.Code] = r
	}
	return m
}()

// MapStripeDecline maps a Stripe error code and decline code to a normalized error type
// (the table returned by StripeDeclineRules) and a hard-decline flag (the one policy,
// declines.IsHard, asked with both codes).
//
// The decline code takes precedence when it is present and known; otherwise the error
// code is used (so code "card_declined" with a decline code this table does not know yet
// still maps to ErrDeclined). When neither is known the result is ErrUnknown, soft.
func MapStripeDecline(code, declineCode string) (ErrorType, bool) {
	t := ErrUnknown
	if r, ok := stripeDeclineIndex[declineCode]; ok && declineCode != "" {
		t = r.Type
	} else if r, ok := stripeDeclineIndex[code]; ok && code != "" {
		t = r.Type
	}
	return t, declines.IsHard(t, declineCode, code)
}

// StripeDeclineRules returns a copy of the Stripe mapping table, in table order (grouped
// by error type), for documentation and operational tooling.
func StripeDeclineRules() []StripeDeclineRule {
	out := make([]StripeDeclineRule, len(stripeDeclineTable))
	copy(out, stripeDeclineTable)
	return out
}
