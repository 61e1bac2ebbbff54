package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	c "payorch/contracts"
)

// processingFirst is the example policy: processing_error retried 15 m, 1 h, 6 h
// after each failure; every other type on the default schedule.
var processingFirst = map[string][]time.Duration{"processing_error": {15 * time.Minute, time.Hour, 6 * time.Hour}}

// TestDunningPolicyPerErrorType: a failure whose error type has its own schedule in the
// policy fixed into the input is retried on it (15 m, then 1 h), not on the default
// schedule, and the state says which rule applied and what it allows.
func TestDunningPolicyPerErrorType(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail2_then_settle"}) // processing_error twice, then settles
	var mid c.PaymentState
	f.at(30*time.Minute, func() { mid = f.state() })
	in := f.input("")
	in.RetryByErrorType = processingFirst
	f.tenv.ExecuteWorkflow(InvoicePayment, in)
	must(t, f.tenv.GetWorkflowError())
	f.expect("retry timers", f.timers[:2], []time.Duration{15 * time.Minute, time.Hour})
	f.expect("transactions", f.txnSummary(), []string{"card:failed:processing_error", "card:failed:processing_error", "card:settled"})
	f.expect("status", f.invoice().Status, "paid")
	f.expect("rule after the second failure", mid.DunningRule, "processing_error")
	f.expect("attempts allowed by its schedule", mid.MaxAttempts, 4)
	f.expect("failed attempts", mid.FailedAttempts, 2)
	if mid.NextRetryAt == nil || !mid.NextRetryAt.Equal(start.Add(15*time.Minute+time.Hour)) {
		t.Errorf("next retry at %v, want %s", mid.NextRetryAt, start.Add(75*time.Minute))
	}
	if !strings.Contains(mid.WaitingFor, "dunning: processing_error") {
		t.Errorf("waiting for %q does not name the rule", mid.WaitingFor)
	}
}

// TestDunningPolicyOtherTypesUseTheDefault: a type without its own schedule (declined)
// is retried on the default one, 2 h, 12 h, 24 h, with the rule "default"; a workflow
// started without a policy (older callers) does the same.
func TestDunningPolicyOtherTypesUseTheDefault(t *testing.T) {
	for _, policy := range []map[string][]time.Duration{processingFirst, nil} {
		f := newFixture(t, setup{pm: "pm_card_chargeDeclined"})
		var mid c.PaymentState
		f.at(3*time.Hour, func() { mid = f.state() })
		f.endAt(15 * time.Hour)
		in := f.input("")
		in.RetryByErrorType = policy
		f.tenv.ExecuteWorkflow(InvoicePayment, in)
		f.expect("retry timers", f.retryTimers(), schedule)
		f.expect("rule", mid.DunningRule, "default")
		f.expect("attempts allowed", mid.MaxAttempts, 4)
	}
}

// TestDunningPolicyNotInOldHistories: a history recorded before the change (no
// "dunning-policy" marker: GetVersion answers DefaultVersion) keeps the default schedule
// for every type even if its input carried a policy.
func TestDunningPolicyNotInOldHistories(t *testing.T) {
	f := newFixture(t, setup{pm: "pm_sim_fail2_then_settle"})
	f.tenv.OnGetVersion(changeDunningPolicy, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	in := f.input("")
	in.RetryByErrorType = processingFirst
	f.tenv.ExecuteWorkflow(InvoicePayment, in)
	must(t, f.tenv.GetWorkflowError())
	f.expect("retry timers", f.retryTimers(), []time.Duration{2 * time.Hour, 12 * time.Hour})
}
