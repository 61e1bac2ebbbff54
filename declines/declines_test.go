package declines

import (
	"slices"
	"testing"
)

// wantPolicy restates the policy of each of the eleven types independently, so a change
// to the table must be made twice (here and there) on purpose.
var wantPolicy = []struct {
	typ                                                        Type
	hard, retried, never, emailed, canFix, revealsNothing, cnt bool
}{
	//                                  hard   retried never  emailed canFix revealsNothing counts
	{AuthenticationRequired, true, false, false, true, true, false, true},
	{PaymentMethodAuthorizationError, false, true, false, false, false, false, true},
	{PaymentMethodDeclined, false, true, false, true, true, false, true},
	{PaymentMethodExpired, true, false, false, true, true, false, true},
	{PaymentMethodInvalid, true, false, false, true, true, false, true},
	{PaymentMethodNotSupported, true, false, false, true, true, false, true},
	{Declined, false, true, false, true, true, false, true},
	{Fraud, true, false, true, true, false, true, true},
	{ProcessingError, false, true, false, false, false, false, true},
	{ProviderError, false, true, false, false, false, false, false},
	{Unknown, false, true, false, false, false, false, true},
}

func TestPolicyPerType(t *testing.T) {
	if len(wantPolicy) != 11 || len(All) != 11 {
		t.Fatalf("%d expectations, %d types: want 11", len(wantPolicy), len(All))
	}
	for i, w := range wantPolicy {
		if All[i] != w.typ {
			t.Errorf("All[%d] = %s, want %s (documentation order)", i, All[i], w.typ)
		}
		p := Of(w.typ)
		got := []bool{p.Hard, p.Retried, p.NeverRetried, p.Emailed, p.CustomerCanFix, p.RevealsNothing, p.CountsAgainstBudget()}
		want := []bool{w.hard, w.retried, w.never, w.emailed, w.canFix, w.revealsNothing, w.cnt}
		if !slices.Equal(got, want) || p.Type != w.typ {
			t.Errorf("Of(%s) = %+v, want hard/retried/never/emailed/canFix/revealsNothing/counts %v", w.typ, p, want)
		}
		// Exactly one of: waits for a new method, retried on the schedule, never retried
		// (fraud is hard too: its card is marked errored).
		if p.Retried == (p.Hard || p.NeverRetried) {
			t.Errorf("%s: retried %v but hard %v / never retried %v", w.typ, p.Retried, p.Hard, p.NeverRetried)
		}
		if p.RevealsNothing && p.CustomerCanFix {
			t.Errorf("%s: an email that reveals nothing cannot tell the customer what to fix", w.typ)
		}
	}
	if p := Of(ProviderError); p.Budget != BudgetProviderOutages {
		t.Errorf("provider_error uses up %s, want the provider-outage budget", p.Budget)
	}
	if p := Of("something_new"); p.Type != Unknown || !p.Retried {
		t.Errorf("an unknown type gets %+v, want unknown's policy", p)
	}
}

// TestHardCodes: a hard code makes a retried type hard (and no longer retried); it never
// softens a hard type; codes that are not hard change nothing.
func TestHardCodes(t *testing.T) {
	for _, code := range []string{"lost_card", "stolen_card", "pickup_card", "restricted_card", "do_not_try_again",
		"pin_try_exceeded", "merchant_blacklist", "debit_not_authorized", "revocation_of_authorization",
		"revocation_of_all_authorizations", "stop_payment_order", "testmode_decline"} {
		if !slices.Contains(HardCodes(), code) {
			t.Errorf("%s is not a hard code", code)
		}
		p := For(Declined, "", code)
		if !p.Hard || p.Retried || !IsHard(PaymentMethodDeclined, code) {
			t.Errorf("For(declined, %s) = %+v, want hard and not retried", code, p)
		}
	}
	if len(HardCodes()) != 12 {
		t.Errorf("%d hard codes, want 12", len(HardCodes()))
	}
	if IsHard(PaymentMethodDeclined, "insufficient_funds") || IsHard(Declined, "generic_decline", "card_declined") {
		t.Error("a soft code made a decline hard")
	}
	if !IsHard(PaymentMethodExpired, "insufficient_funds") {
		t.Error("a soft code softened a hard type")
	}
	HardCodes()[0] = "changed"
	if HardCodes()[0] == "changed" {
		t.Error("HardCodes exposes the list itself")
	}
}
