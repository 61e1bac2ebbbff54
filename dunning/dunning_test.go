package dunning

import (
	"strings"
	"testing"
	"time"
)

var (
	t0       = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	seeds    = []time.Duration{2 * time.Hour, 12 * time.Hour, 24 * time.Hour}
	deadline = Deadline(t0, seeds) // t0 + 38h
	// short gives processing_error one step, far shorter than the default; long gives it
	// fewer, longer steps than the default (its total is the default's: 38h).
	short = map[string][]time.Duration{"processing_error": {15 * time.Minute}}
	long  = map[string][]time.Duration{"processing_error": {30 * time.Hour, 8 * time.Hour}}
	// perType is the example policy: processing_error 15m, 1h, 6h; provider_error
	// a quick 10m, 20m; and a 5-step unknown.
	perType = map[string][]time.Duration{
		"processing_error": {15 * time.Minute, time.Hour, 6 * time.Hour},
		"provider_error":   {10 * time.Minute, 20 * time.Minute},
		"unknown":          {time.Minute, time.Minute, time.Minute, time.Minute, time.Minute},
		// Never set through a validated policy; Next must ignore them anyway.
		"fraud":                  {time.Minute},
		"payment_method_expired": {time.Minute},
	}
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestNext(t *testing.T) {
	tests := []struct {
		name   string
		s      State
		o      Outcome
		action Action
		at     *time.Time
		failed int
		outage int
		why    string
	}{
		{"first decline: retry in 2h", State{Schedule: seeds, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "declined"}, RetryAt, at(2 * time.Hour), 1, 0, "attempt 2 of 4"},
		{"second decline: retry in 12h", State{Schedule: seeds, FailedAttempts: 1, Deadline: &deadline, Now: t0.Add(2 * time.Hour)},
			Outcome{ErrorType: "payment_method_declined"}, RetryAt, at(14 * time.Hour), 2, 0, "attempt 3 of 4"},
		{"third decline: retry in 24h", State{Schedule: seeds, FailedAttempts: 2, Deadline: &deadline, Now: t0.Add(14 * time.Hour)},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(38 * time.Hour), 3, 0, "attempt 4 of 4"},
		{"fourth decline: all attempts failed", State{Schedule: seeds, FailedAttempts: 3, Deadline: &deadline, Now: t0.Add(38 * time.Hour)},
			Outcome{ErrorType: "declined"}, MarkErrored, nil, 4, 0, "all 4 attempts failed"},
		{"unknown type counts as an attempt", State{Schedule: seeds, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "something_new"}, RetryAt, at(2 * time.Hour), 1, 0, "last error: something_new"},
		{"hard decline waits until the deadline", State{Schedule: seeds, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "payment_method_expired", HardDecline: true}, WaitForPaymentMethod, &deadline, 1, 0, "a new payment method"},
		{"hard decline code on a soft type waits too", State{Schedule: seeds, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "declined", HardDecline: true}, WaitForPaymentMethod, &deadline, 1, 0, "until 2026-11-03T23:00:00Z"},
		{"hard decline after the deadline errors", State{Schedule: seeds, FailedAttempts: 1, Deadline: &deadline, Now: deadline},
			Outcome{ErrorType: "payment_method_invalid", HardDecline: true}, MarkErrored, nil, 2, 0, "after the retry deadline"},
		{"hard decline on the last attempt errors", State{Schedule: seeds, FailedAttempts: 3, Deadline: &deadline, Now: t0.Add(time.Hour)},
			Outcome{ErrorType: "payment_method_expired", HardDecline: true}, MarkErrored, nil, 4, 0, "all 4 attempts failed"},
		{"a default retry after a type's own schedule stays within the deadline",
			State{Schedule: seeds, ByErrorType: map[string][]time.Duration{"processing_error": {36 * time.Hour, time.Hour, time.Hour}},
				FailedAttempts: 1, Deadline: &deadline, Now: t0.Add(36 * time.Hour)},
			Outcome{ErrorType: "declined"}, RetryAt, &deadline, 2, 0, "attempt 3 of 4"},
		{"fraud is never retried", State{Schedule: seeds, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "fraud", HardDecline: true}, MarkErrored, nil, 1, 0, "fraud: never retried"},
		{"provider outage uses no attempt", State{Schedule: seeds, FailedAttempts: 1, Deadline: &deadline, Now: t0.Add(3 * time.Hour)},
			Outcome{ErrorType: "provider_error"}, RetryAt, at(5 * time.Hour), 1, 1, "provider outage 1 of at most 4 (failed attempts: 1 of 4; dunning: default)"},
		{"second provider outage waits the second delay", State{Schedule: seeds, ProviderOutages: 1, Deadline: &deadline, Now: t0.Add(3 * time.Hour)},
			Outcome{ErrorType: "provider_error"}, RetryAt, at(15 * time.Hour), 0, 2, "provider outage 2"},
		{"provider outage past the deadline holds for an operator", State{Schedule: seeds, ProviderOutages: 2, Deadline: &deadline, Now: t0.Add(20 * time.Hour)},
			Outcome{ErrorType: "provider_error"}, HoldForOperator, nil, 0, 3, "could not be reached for 3 charge(s)"},
		{"provider outages bounded like attempts", State{Schedule: seeds, ProviderOutages: 3, Now: t0},
			Outcome{ErrorType: "provider_error"}, HoldForOperator, nil, 0, 4, "an operator's retry"},
		{"provider refusal for good holds for an operator, counting nothing", State{Schedule: seeds, FailedAttempts: 1, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "provider_error", ProviderRefused: true, Message: "api key revoked"}, HoldForOperator, nil, 1, 0, "accepts our requests again: api key revoked"},
		{"already errored stays errored", State{Schedule: seeds, FailedAttempts: 4, Errored: true, Deadline: &deadline, Now: t0.Add(100 * time.Hour)},
			Outcome{ErrorType: "declined"}, StayErrored, nil, 5, 0, "last error: declined"},
		{"already errored: fraud stays errored too", State{Schedule: seeds, FailedAttempts: 4, Errored: true, Now: t0},
			Outcome{ErrorType: "fraud"}, StayErrored, nil, 5, 0, "a manual retry"},
		// The dunning policy: the failure's error type picks its schedule.
		{"per type: first processing_error retries in 15m", State{Schedule: seeds, ByErrorType: perType, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(15 * time.Minute), 1, 0, "attempt 2 of 4 at 2026-11-02T09:15:00Z (last error: processing_error; dunning: processing_error)"},
		{"per type: second processing_error retries in 1h", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 1, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(time.Hour), 2, 0, "dunning: processing_error"},
		{"per type: third processing_error retries in 6h", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 2, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(6 * time.Hour), 3, 0, "attempt 4 of 4"},
		{"per type: a type without its own schedule uses the default", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 1, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "declined"}, RetryAt, at(12 * time.Hour), 2, 0, "dunning: default"},
		{"per type: its own number of attempts", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 3, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "something_new"}, RetryAt, at(time.Minute), 4, 0, "attempt 5 of 6 at 2026-11-02T09:01:00Z (last error: something_new; dunning: unknown)"},
		{"per type: all attempts of its schedule failed", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 5, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "unknown"}, MarkErrored, nil, 6, 0, "all 6 attempts failed (dunning: unknown)"},
		{"per type: provider outages on their own delays", State{Schedule: seeds, ByErrorType: perType, ProviderOutages: 1, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "provider_error"}, RetryAt, at(20 * time.Minute), 0, 2, "provider outage 2 of at most 3 (failed attempts: 0 of 4; dunning: provider_error)"},
		{"per type: provider outages bounded by their schedule", State{Schedule: seeds, ByErrorType: perType, ProviderOutages: 2, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "provider_error"}, HoldForOperator, nil, 0, 3, "an operator's retry"},
		{"per type: a hard decline keeps its rule", State{Schedule: seeds, ByErrorType: perType, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "payment_method_expired", HardDecline: true}, WaitForPaymentMethod, &deadline, 1, 0, "until 2026-11-03T23:00:00Z"},
		{"per type: a hard code on a scheduled type keeps the hard rule", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 3, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "processing_error", HardDecline: true}, MarkErrored, nil, 4, 0, "all 4 attempts failed (dunning: default)"},
		{"per type: fraud is never retried", State{Schedule: seeds, ByErrorType: perType, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "fraud", HardDecline: true}, MarkErrored, nil, 1, 0, "fraud: never retried"},
		// Error types mixed: one count, errored only when the failure's own schedule and the
		// default are both exhausted; the delay is the failure's own step, clamped.
		{"mixed: declined then processing_error keeps the default's attempts", State{Schedule: seeds, ByErrorType: short, FailedAttempts: 1, Deadline: &deadline, Now: t0.Add(2 * time.Hour)},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(2*time.Hour + 15*time.Minute), 2, 0, "attempt 3 of 4 at 2026-11-02T11:15:00Z (last error: processing_error; dunning: processing_error)"},
		{"mixed: a short schedule's last step repeats", State{Schedule: seeds, ByErrorType: short, FailedAttempts: 2, Deadline: &deadline, Now: t0.Add(3 * time.Hour)},
			Outcome{ErrorType: "processing_error"}, RetryAt, at(3*time.Hour + 15*time.Minute), 3, 0, "attempt 4 of 4"},
		{"mixed: errored once both schedules are exhausted", State{Schedule: seeds, ByErrorType: short, FailedAttempts: 3, Deadline: &deadline, Now: t0.Add(4 * time.Hour)},
			Outcome{ErrorType: "processing_error"}, MarkErrored, nil, 4, 0, "all 4 attempts failed (dunning: processing_error)"},
		{"mixed: processing_error then declined uses the default's step", State{Schedule: seeds, ByErrorType: short, FailedAttempts: 1, Deadline: &deadline, Now: t0.Add(time.Hour)},
			Outcome{ErrorType: "declined"}, RetryAt, at(13 * time.Hour), 2, 0, "dunning: default"},
		{"mixed: a longer own schedule is not cut short by the default", State{Schedule: seeds, ByErrorType: perType, FailedAttempts: 4, Deadline: &deadline, Now: t0},
			Outcome{ErrorType: "unknown"}, RetryAt, at(time.Minute), 5, 0, "attempt 6 of 6"},
		{"own schedule: a retry past the deadline moves to the deadline", State{Schedule: seeds, ByErrorType: long, FailedAttempts: 2, Deadline: &deadline, Now: t0.Add(31 * time.Hour)},
			Outcome{ErrorType: "processing_error"}, RetryAt, &deadline, 3, 0, "attempt 4 of 4 at 2026-11-03T23:00:00Z"},
		{"own schedule: after the deadline the invoice errors", State{Schedule: seeds, ByErrorType: long, FailedAttempts: 2, Deadline: &deadline, Now: deadline},
			Outcome{ErrorType: "processing_error"}, MarkErrored, nil, 3, 0, "the retry deadline 2026-11-03T23:00:00Z has passed"},
		{"no schedule: one attempt", State{Now: t0},
			Outcome{ErrorType: "declined"}, MarkErrored, nil, 1, 0, "all 1 attempts failed"},
		{"no schedule: provider outage holds", State{Now: t0},
			Outcome{ErrorType: "provider_error"}, HoldForOperator, nil, 0, 1, "an operator's retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Next(tt.s, tt.o)
			if d.Action != tt.action {
				t.Fatalf("action %s, want %s (%s)", d.Action, tt.action, d.Why)
			}
			if (d.At == nil) != (tt.at == nil) || (d.At != nil && !d.At.Equal(*tt.at)) {
				t.Errorf("at %v, want %v", d.At, tt.at)
			}
			if d.FailedAttempts != tt.failed || d.ProviderOutages != tt.outage {
				t.Errorf("counts %d/%d, want %d/%d", d.FailedAttempts, d.ProviderOutages, tt.failed, tt.outage)
			}
			wantRule := RuleDefault
			if strings.Contains(tt.why, "dunning: ") && !strings.Contains(tt.why, "dunning: default") {
				wantRule = tt.why[strings.Index(tt.why, "dunning: ")+len("dunning: "):]
				wantRule = strings.TrimRight(wantRule, ")")
			}
			if strings.Contains(tt.why, "dunning: ") && d.Rule != wantRule {
				t.Errorf("rule %q, want %q", d.Rule, wantRule)
			}
			if !strings.Contains(d.Why, tt.why) {
				t.Errorf("why %q, want it to contain %q", d.Why, tt.why)
			}
		})
	}
}

func TestNextIsPure(t *testing.T) {
	s := State{Schedule: seeds, FailedAttempts: 1, Deadline: &deadline, Now: t0}
	a, b := Next(s, Outcome{ErrorType: "declined"}), Next(s, Outcome{ErrorType: "declined"})
	if a.Action != b.Action || !a.At.Equal(*b.At) || a.Why != b.Why || s.FailedAttempts != 1 {
		t.Fatalf("Next changed its input or answered differently: %+v %+v %+v", a, b, s)
	}
}

func TestDeadline(t *testing.T) {
	if got := Deadline(t0, seeds); !got.Equal(t0.Add(38 * time.Hour)) {
		t.Fatalf("deadline %s", got)
	}
	if MaxAttempts(seeds) != 4 || MaxAttempts(nil) != 1 {
		t.Fatal("max attempts")
	}
}
