// Package dunning holds the retry rule of a failed invoice charge — "2 h, 12 h, 24 h (or
// the schedule the dunning policy gives the failure's error type); hard declines wait for
// a new payment method until the schedule ends; fraud is never retried; provider errors
// are bounded like attempts but use none of the customer's" — as one pure function, Next,
// and the dunning policy it applies (Policy: its schedules, their validation). The invoice payment workflow asks it after every failed charge and holds
// no retry arithmetic of its own. What each error type means (hard, never retried, which
// budget it uses) is the one decline policy of package declines.
package dunning

import (
	"fmt"
	"time"

	"payorch/declines"
)

// State is what the rule needs to know about a payment before a failed charge is counted.
type State struct {
	// Schedule is the default delay before each automatic retry (the seeds' 2h, 12h, 24h
	// by default); fixed when the workflow starts. It sets the deadline, serves hard
	// declines and every type without its own schedule, and is the least number of
	// attempts any failure gets: len(Schedule)+1 (see Next).
	Schedule []time.Duration
	// ByErrorType is the dunning policy's schedule per retried error type (Policy.For),
	// fixed when the workflow starts; a type without one (or nil: a workflow started
	// before the policy existed) uses Schedule.
	ByErrorType map[string][]time.Duration
	// FailedAttempts and ProviderOutages are the counts so far (before this failure).
	FailedAttempts  int
	ProviderOutages int
	// Deadline ends the schedule (first attempt + the sum of Schedule); nil before the first attempt.
	Deadline *time.Time
	// Errored is true when the invoice is already in error (a manual retry or a new
	// payment method failed again): it stays errored, with no automatic retry.
	Errored bool
	// Now is the workflow's time of the failure.
	Now time.Time
}

// Outcome is a failed charge as the provider (or a local check) decided it.
type Outcome struct {
	// ErrorType is the normalized error type (declines.Type).
	ErrorType string
	// HardDecline is the transaction's stored verdict (declines.For with the provider's codes).
	HardDecline bool
	// ProviderRefused is a provider_error the provider gave for good (revoked
	// credentials, a misconfigured account): no retry on a schedule heals it, and it is
	// not an outage of the provider. Message is what the provider said.
	ProviderRefused bool
	Message         string
}

// Action is what the workflow does next.
type Action string

// The actions of a Decision.
const (
	// RetryAt: an automatic retry at Decision.At.
	RetryAt Action = "retry_at"
	// WaitForPaymentMethod: a hard decline; wait for a new payment method until the
	// schedule's deadline, then Errored.
	WaitForPaymentMethod Action = "wait_for_payment_method"
	// MarkErrored: the invoice goes to error and its subscription to errored.
	MarkErrored Action = "mark_errored"
	// StayErrored: the invoice already is in error; it waits for a person again.
	StayErrored Action = "stay_errored"
	// HoldForOperator: the provider kept failing and the schedule allows no more; an
	// operator's retry decides.
	HoldForOperator Action = "hold_for_operator"
)

// Decision is the rule's answer: the action, the new counts, and why in words (for the
// Web UI's summary and the logs).
type Decision struct {
	Action Action
	// At is the retry time (RetryAt) or the deadline of the wait (WaitForPaymentMethod).
	At *time.Time
	// FailedAttempts and ProviderOutages are the counts after this failure.
	FailedAttempts  int
	ProviderOutages int
	// Rule names the schedule that applied: the failure's error type when the policy
	// gives it its own, else RuleDefault. MaxAttempts is what that schedule allows.
	Rule        string
	MaxAttempts int
	// Why says what applied, e.g. "attempt 2 of 4 at … (last error: declined; dunning: default)".
	Why string
}

// MaxAttempts is the number of attempts a schedule allows: the first and one per retry.
func MaxAttempts(schedule []time.Duration) int { return len(schedule) + 1 }

// Deadline is when a schedule that starts at first ends.
func Deadline(first time.Time, schedule []time.Duration) time.Time {
	for _, d := range schedule {
		first = first.Add(d)
	}
	return first
}

// Next decides what follows a failed charge. It is pure: the same state and outcome
// always give the same decision (the workflow's replay depends on it).
//
// The rule when failures of several error types mix: failed attempts are counted across
// types (one count per invoice). A failure of type T leaves the invoice errored only when
// the count reaches both T's own schedule's attempts and the default's, i.e. the attempts
// allowed are max(len(T's schedule), len(default))+1; otherwise the next retry waits T's
// schedule's step for this attempt number (the count), clamped to T's last step, and —
// on a type's own schedule — never past the deadline. Provider outages have their own
// count, bounded by provider_error's schedule and the deadline.
func Next(s State, o Outcome) Decision {
	pol := declines.Of(declines.Type(o.ErrorType))
	d := Decision{FailedAttempts: s.FailedAttempts, ProviderOutages: s.ProviderOutages, Rule: RuleDefault,
		MaxAttempts: MaxAttempts(s.Schedule)}
	if o.ProviderRefused {
		d.Action = HoldForOperator
		d.Why = "an operator's retry once the payment provider accepts our requests again: " + o.Message
		return d
	}
	switch pol.Budget {
	case declines.BudgetAttempts:
		d.FailedAttempts++
	case declines.BudgetProviderOutages:
		d.ProviderOutages++
	}
	// A hard decline keeps its rule whatever the policy says (so does fraud, which For
	// never gives a schedule): the default schedule's attempts and deadline.
	sched := s.Schedule
	if !o.HardDecline {
		sched, d.Rule = Policy{Default: s.Schedule, ByErrorType: s.ByErrorType}.For(o.ErrorType)
	}
	// The attempts a failure may still be retried within: the larger of its own schedule's
	// and the default's. Failures of several types share one count, so a short schedule
	// (processing_error: 15m) never ends the invoice's dunning before the default has run
	// out, and a long one is not cut short by the default. Provider outages, one type's
	// budget, stay bounded by their own schedule.
	own := MaxAttempts(sched)
	attempts := max(own, MaxAttempts(s.Schedule))
	d.MaxAttempts = attempts
	switch {
	case s.Errored:
		d.Action, d.Why = StayErrored, fmt.Sprintf("a manual retry, a new payment method, a reconciliation or a void (last error: %s)", o.ErrorType)
	case pol.NeverRetried:
		d.Action, d.Why = MarkErrored, o.ErrorType+": never retried"
	case d.FailedAttempts >= attempts:
		d.Action, d.Why = MarkErrored, fmt.Sprintf("all %d attempts failed (dunning: %s)", attempts, d.Rule)
	case o.HardDecline:
		if s.Deadline != nil && !s.Now.Before(*s.Deadline) {
			d.Action, d.Why = MarkErrored, "hard decline after the retry deadline"
			break
		}
		d.Action, d.At = WaitForPaymentMethod, s.Deadline
		d.Why = fmt.Sprintf("a new payment method (%s) until %s", o.ErrorType, formatTime(s.Deadline))
	case pol.Budget == declines.BudgetProviderOutages:
		// Not the customer's failure: it uses none of their attempts, but it is bounded like
		// them and by the schedule's deadline; then an operator decides.
		next := s.Now.Add(delay(sched, d.ProviderOutages-1))
		if d.ProviderOutages >= own || (s.Deadline != nil && next.After(*s.Deadline)) {
			d.Action = HoldForOperator
			d.Why = fmt.Sprintf("an operator's retry: the payment provider could not be reached for %d charge(s), each retried for an hour, and the schedule allows no more", d.ProviderOutages)
			break
		}
		d.Action, d.At = RetryAt, &next
		d.Why = fmt.Sprintf("retry at %s after provider outage %d of at most %d (failed attempts: %d of %d; dunning: %s)",
			next.UTC().Format(time.RFC3339), d.ProviderOutages, own, d.FailedAttempts, attempts, d.Rule)
	default:
		// The delay is the failure's own schedule's step for this attempt, clamped to its
		// last step. On a type's own schedule the retry never goes past the deadline (the
		// default schedule's end): it is moved to the deadline, or the invoice errors once
		// the deadline has passed. The default schedule's retries keep their delays (they
		// are what the deadline is made of).
		next := s.Now.Add(delay(sched, d.FailedAttempts-1))
		// With a policy, the default's retries are clamped too: after a failure on a type's
		// own schedule, the default's next step no longer ends at the deadline. (Without
		// one, a workflow started before the policy keeps its timers as they were.)
		if (d.Rule != RuleDefault || len(s.ByErrorType) > 0) && s.Deadline != nil && next.After(*s.Deadline) {
			if !s.Now.Before(*s.Deadline) {
				d.Action, d.Why = MarkErrored, fmt.Sprintf("the retry deadline %s has passed (last error: %s; dunning: %s)", formatTime(s.Deadline), o.ErrorType, d.Rule)
				break
			}
			next = *s.Deadline
		}
		d.Action, d.At = RetryAt, &next
		d.Why = fmt.Sprintf("attempt %d of %d at %s (last error: %s; dunning: %s)", d.FailedAttempts+1, attempts, next.UTC().Format(time.RFC3339), o.ErrorType, d.Rule)
	}
	return d
}

// delay is the schedule's i-th delay, clamped to its ends (an empty schedule retries at once).
func delay(schedule []time.Duration, i int) time.Duration {
	if len(schedule) == 0 {
		return 0
	}
	return schedule[min(max(i, 0), len(schedule)-1)]
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "the end of the schedule"
	}
	return t.UTC().Format(time.RFC3339)
}
