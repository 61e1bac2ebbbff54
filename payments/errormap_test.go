package payments

import (
	"testing"

	"payorch/declines"
)

// wantStripeMapping restates every row of stripeDeclineTable independently, so a change
// to the table must be made twice (here and there) on purpose.
var wantStripeMapping = []struct {
	code string
	typ  ErrorType
	hard bool
}{
	{"authentication_required", ErrAuthenticationRequired, true},
	{"payment_intent_authentication_failure", ErrAuthenticationRequired, true},

	{"approve_with_id", ErrPaymentMethodAuthorizationError, false},
	{"issuer_not_available", ErrPaymentMethodAuthorizationError, false},
	{"offline_pin_required", ErrPaymentMethodAuthorizationError, false},
	{"online_or_offline_pin_required", ErrPaymentMethodAuthorizationError, false},
	{"incorrect_pin", ErrPaymentMethodAuthorizationError, false},
	{"invalid_pin", ErrPaymentMethodAuthorizationError, false},
	{"pin_try_exceeded", ErrPaymentMethodAuthorizationError, true},

	{"insufficient_funds", ErrPaymentMethodDeclined, false},
	{"card_velocity_exceeded", ErrPaymentMethodDeclined, false},
	{"withdrawal_count_limit_exceeded", ErrPaymentMethodDeclined, false},
	{"invalid_amount", ErrPaymentMethodDeclined, false},
	{"lost_card", ErrPaymentMethodDeclined, true},
	{"stolen_card", ErrPaymentMethodDeclined, true},
	{"pickup_card", ErrPaymentMethodDeclined, true},
	{"restricted_card", ErrPaymentMethodDeclined, true},
	{"merchant_blacklist", ErrPaymentMethodDeclined, true},
	{"debit_not_authorized", ErrPaymentMethodDeclined, true},

	{"expired_card", ErrPaymentMethodExpired, true},

	{"incorrect_cvc", ErrPaymentMethodInvalid, true},
	{"invalid_cvc", ErrPaymentMethodInvalid, true},
	{"incorrect_number", ErrPaymentMethodInvalid, true},
	{"invalid_number", ErrPaymentMethodInvalid, true},
	{"invalid_expiry_month", ErrPaymentMethodInvalid, true},
	{"invalid_expiry_year", ErrPaymentMethodInvalid, true},
	{"incorrect_zip", ErrPaymentMethodInvalid, true},
	{"incorrect_address", ErrPaymentMethodInvalid, true},
	{"invalid_account", ErrPaymentMethodInvalid, true},
	{"new_account_information_available", ErrPaymentMethodInvalid, true},
	{"account_closed", ErrPaymentMethodInvalid, true},
	{"no_account", ErrPaymentMethodInvalid, true},

	{"card_not_supported", ErrPaymentMethodNotSupported, true},
	{"currency_not_supported", ErrPaymentMethodNotSupported, true},

	{"card_declined", ErrDeclined, false},
	{"generic_decline", ErrDeclined, false},
	{"do_not_honor", ErrDeclined, false},
	{"call_issuer", ErrDeclined, false},
	{"do_not_try_again", ErrDeclined, true},
	{"transaction_not_allowed", ErrDeclined, false},
	{"security_violation", ErrDeclined, false},
	{"service_not_allowed", ErrDeclined, false},
	{"no_action_taken", ErrDeclined, false},
	{"not_permitted", ErrDeclined, false},
	{"duplicate_transaction", ErrDeclined, false},
	{"revocation_of_authorization", ErrDeclined, true},
	{"revocation_of_all_authorizations", ErrDeclined, true},
	{"stop_payment_order", ErrDeclined, true},
	{"testmode_decline", ErrDeclined, true},
	{"card_decline_rate_limit_exceeded", ErrDeclined, false},
	{"payment_method_provider_decline", ErrDeclined, false},

	{"fraudulent", ErrFraud, true},

	{"processing_error", ErrProcessingError, false},
	{"try_again_later", ErrProcessingError, false},
	{"reenter_transaction", ErrProcessingError, false},
}

func TestMapStripeDeclineRows(t *testing.T) {
	for _, w := range wantStripeMapping {
		t.Run(w.code, func(t *testing.T) {
			// As a decline code under the generic card_declined error code…
			if typ, hard := MapStripeDecline("card_declined", w.code); typ != w.typ || hard != w.hard {
				t.Errorf("MapStripeDecline(card_declined, %q) = (%s, %v), want (%s, %v)", w.code, typ, hard, w.typ, w.hard)
			}
			// …and as an error code without a decline code.
			if typ, hard := MapStripeDecline(w.code, ""); typ != w.typ || hard != w.hard {
				t.Errorf("MapStripeDecline(%q, \"\") = (%s, %v), want (%s, %v)", w.code, typ, hard, w.typ, w.hard)
			}
		})
	}
}

func TestMapStripeDeclineTableMatchesExpectations(t *testing.T) {
	want := make(map[string]bool, len(wantStripeMapping))
	for _, w := range wantStripeMapping {
		if want[w.code] {
			t.Errorf("expectation %q listed twice", w.code)
		}
		want[w.code] = true
	}
	rules := StripeDeclineRules()
	for _, r := range rules {
		if !want[r.Code] {
			t.Errorf("table row %q has no expectation in wantStripeMapping", r.Code)
		}
		if r.Why == "" {
			t.Errorf("table row %q has no documented reason", r.Code)
		}
		if !isErrorType(r.Type) {
			t.Errorf("table row %q maps to %q, not one of the eleven error types", r.Code, r.Type)
		}
		if r.Type == ErrProviderError || r.Type == ErrUnknown {
			t.Errorf("table row %q maps to %s: declines are never provider errors, and unknown is the fallback", r.Code, r.Type)
		}
	}
	if len(rules) != len(wantStripeMapping) {
		t.Errorf("table has %d rows, expectations %d", len(rules), len(wantStripeMapping))
	}
	// The accessor returns a copy.
	rules[0].Type = ErrUnknown
	if StripeDeclineRules()[0].Type == ErrUnknown {
		t.Error("StripeDeclineRules exposes the table itself")
	}
}

func TestMapStripeDeclinePrecedenceAndFallback(t *testing.T) {
	cases := []struct {
		name, code, decline string
		typ                 ErrorType
		hard                bool
	}{
		{"unknown code", "some_new_card_error", "", ErrUnknown, false},
		{"unknown code and decline code", "some_new_card_error", "some_new_decline", ErrUnknown, false},
		{"nothing", "", "", ErrUnknown, false},
		{"card_declined without decline code", "card_declined", "", ErrDeclined, false},
		{"card_declined with unknown decline code falls back to code", "card_declined", "some_new_decline", ErrDeclined, false},
		{"decline code wins over code", "processing_error", "insufficient_funds", ErrPaymentMethodDeclined, false},
		{"decline code wins over code (hard)", "card_declined", "stolen_card", ErrPaymentMethodDeclined, true},
		{"decline code alone", "", "expired_card", ErrPaymentMethodExpired, true},
		{"card_declined/authentication_required", "card_declined", "authentication_required", ErrAuthenticationRequired, true},
		{"radar block", "card_declined", "fraudulent", ErrFraud, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ, hard := MapStripeDecline(c.code, c.decline)
			if typ != c.typ || hard != c.hard {
				t.Errorf("MapStripeDecline(%q, %q) = (%s, %v), want (%s, %v)", c.code, c.decline, typ, hard, c.typ, c.hard)
			}
		})
	}
}

func isErrorType(e ErrorType) bool {
	for _, t := range AllErrorTypes {
		if t == e {
			return true
		}
	}
	return false
}

// TestStripeTableHardAgreesWithPolicy: the Hard column of every row is the one policy's
// verdict (declines.IsHard) for the row's type and code, and IsHardDeclineType agrees
// with both — one source of truth for "hard decline".
func TestStripeTableHardAgreesWithPolicy(t *testing.T) {
	for _, r := range StripeDeclineRules() {
		if got := declines.IsHard(r.Type, r.Code); got != r.Hard {
			t.Errorf("row %q (%s): Hard %v, the policy says %v", r.Code, r.Type, r.Hard, got)
		}
		if got := IsHardDeclineType(r.Type, r.Code); got != r.Hard {
			t.Errorf("row %q (%s): IsHardDeclineType %v, Hard %v", r.Code, r.Type, got, r.Hard)
		}
	}
}
