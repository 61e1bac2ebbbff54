package dunning

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"payorch/apperr"
	"payorch/declines"
)

// Policy is the dunning policy: the retry schedule of a failed charge by the failure's
// error type. Default serves every type without its own schedule (the seeds' 2h, 12h,
// 24h unless configured); ByErrorType gives a retried type its own (processing_error:
// 15m, 1h, 6h). Hard declines and fraud keep their rules whatever the policy says:
// FixedRules. A policy is fixed into each payment workflow when it starts.
type Policy struct {
	Default     []time.Duration
	ByErrorType map[string][]time.Duration
}

// Bounds of a schedule set through the API or given to an error type in the
// configuration: at most MaxSteps delays, each at least MinDelay (no card charged again
// and again within seconds) and at most MaxDelay (a month: the schedule's dates stay
// dates a person can act on).
const (
	MaxSteps = 10
	MinDelay = time.Minute
	MaxDelay = 30 * 24 * time.Hour
)

// Limits bound the schedules of a policy; a zero field bounds nothing (delays are always
// positive and a schedule has at least one).
type Limits struct {
	MinDelay, MaxDelay time.Duration
	MaxSteps           int
	// Deadline refuses a type's schedule totalling more than the default's
	// (schedule_exceeds_deadline).
	Deadline bool
}

// EdgeLimits are the bounds of a policy set at the edge (the API, and the configuration's
// schedules per error type): MaxSteps, MaxDelay, the deadline, and minDelay as the floor
// (MinDelay when zero; only a development or test configuration lowers it,
// PAYORCH_DUNNING_MIN_DELAY).
func EdgeLimits(minDelay time.Duration) Limits {
	if minDelay <= 0 {
		minDelay = MinDelay
	}
	return Limits{MinDelay: minDelay, MaxDelay: MaxDelay, MaxSteps: MaxSteps, Deadline: true}
}

// StoredLimits are the bounds a stored policy is read back with: none beyond its shape,
// so that bounds tightened after it was stored never stop a collection from starting.
var StoredLimits = Limits{}

// RuleDefault is the Rule of a decision taken on the default schedule.
const RuleDefault = "default"

// OwnSchedule reports whether failures of type t may have their own schedule: the types
// retried on a schedule. A hard decline waits for a new payment method until the default
// schedule's deadline and fraud is never retried; neither takes a schedule.
func OwnSchedule(t declines.Type) bool {
	p := declines.Of(t)
	return t.Valid() && p.Retried && !p.Hard && !p.NeverRetried
}

// FixedRules says, per error type that no policy can change, what happens to it instead
// (the API shows it with the policy).
func FixedRules() map[string]string {
	out := map[string]string{}
	for _, t := range declines.All {
		p := declines.Of(t)
		switch {
		case p.NeverRetried:
			out[string(t)] = "never retried: the invoice goes to error at once"
		case p.Hard:
			out[string(t)] = "hard decline: no automatic retry; waits for a new payment method, then charges at once, until the default schedule's deadline (first attempt + the sum of the default delays)"
		}
	}
	return out
}

// For returns the schedule that applies to a failure of errorType and the rule's name
// (the type, or RuleDefault). An unknown or empty type is unknown's.
func (p Policy) For(errorType string) ([]time.Duration, string) {
	t := declines.Of(declines.Type(errorType)).Type
	if s, ok := p.ByErrorType[string(t)]; ok && len(s) > 0 && OwnSchedule(t) {
		return s, string(t)
	}
	return p.Default, RuleDefault
}

// Validate checks a policy set at the edge (EdgeLimits): a default schedule and every
// type's schedule of 1 to MaxSteps delays of at least MinDelay and at most MaxDelay, only the eleven error types, none of
// those whose rules are fixed (FixedRules), and no type's schedule totalling more than
// the default's (schedule_exceeds_deadline: the default's total is every invoice's retry
// deadline). The error is a typed 400 naming the field.
func (p Policy) Validate() error { return p.ValidateWith(EdgeLimits(0), EdgeLimits(0)) }

// ValidateWith is Validate with def bounding the default schedule and types every
// type's schedule (and whether the deadline applies).
func (p Policy) ValidateWith(def, types Limits) error {
	if err := checkSchedule("default", p.Default, def); err != nil {
		return err
	}
	for _, t := range sortedTypes(p.ByErrorType) {
		param := "by_error_type." + t
		if !declines.Type(t).Valid() {
			return apperr.InvalidParam(param, "error_type_unknown",
				fmt.Sprintf("%q is not an error type; the types are %s", t, typeList()))
		}
		if !OwnSchedule(declines.Type(t)) {
			return apperr.InvalidParam(param, "error_type_rule_fixed",
				fmt.Sprintf("%s keeps its rule and takes no schedule: %s", t, FixedRules()[t]))
		}
		if err := checkSchedule(param, p.ByErrorType[t], types); err != nil {
			return err
		}
		if total, limit := Total(p.ByErrorType[t]), Total(p.Default); types.Deadline && total > limit {
			return apperr.InvalidParam(param, "schedule_exceeds_deadline",
				fmt.Sprintf("%s totals %s, longer than the default schedule's %s: the default schedule's total is every invoice's retry deadline (first attempt + the sum of the default delays), so a schedule of its own may total at most that",
					param, FormatDelay(total), FormatDelay(limit)))
		}
	}
	return nil
}

// Total is the sum of a schedule's delays: for the default schedule, the time from the
// first attempt to every invoice's retry deadline (Deadline).
func Total(s []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range s {
		t += d
	}
	return t
}

func checkSchedule(param string, s []time.Duration, lim Limits) error {
	if len(s) == 0 || (lim.MaxSteps > 0 && len(s) > lim.MaxSteps) {
		most := "any number of"
		if lim.MaxSteps > 0 {
			most = fmt.Sprintf("1 to %d", lim.MaxSteps)
		}
		return apperr.InvalidParam(param, "schedule_invalid",
			fmt.Sprintf("%s must list %s delays, got %d", param, most, len(s)))
	}
	for i, d := range s {
		switch {
		case d <= 0 || (lim.MaxDelay > 0 && d > lim.MaxDelay):
			most := ""
			if lim.MaxDelay > 0 {
				most = " and at most " + FormatDelay(lim.MaxDelay)
			}
			return apperr.InvalidParam(param, "schedule_invalid",
				fmt.Sprintf("%s: delay %d (%s) must be positive%s", param, i+1, d, most))
		case d < lim.MinDelay:
			return apperr.InvalidParam(param, "schedule_invalid",
				fmt.Sprintf("%s: delay %d (%s) must be at least %s (no card is charged again within seconds)", param, i+1, FormatDelay(d), FormatDelay(lim.MinDelay)))
		}
	}
	return nil
}

// ParseSchedule reads delays written as Go durations ("15m", "2h", "1h30m"); param names
// the field in the typed error. The result is not yet validated (Policy.Validate).
func ParseSchedule(param string, delays []string) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(delays))
	for i, s := range delays {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, apperr.InvalidParam(param, "schedule_invalid",
				fmt.Sprintf("%s: delay %d (%q) is not a duration like 15m, 2h or 1h30m", param, i+1, s))
		}
		out = append(out, d)
	}
	return out, nil
}

// ParsePolicy reads and validates a policy written as durations (the API's and the
// configuration's form) with EdgeLimits(0).
func ParsePolicy(def []string, byType map[string][]string) (Policy, error) {
	return ParsePolicyWith(def, byType, EdgeLimits(0), EdgeLimits(0))
}

// ParsePolicyWith is ParsePolicy validated with ValidateWith(def, types).
func ParsePolicyWith(def []string, byType map[string][]string, defLimits, typeLimits Limits) (Policy, error) {
	p := Policy{ByErrorType: map[string][]time.Duration{}}
	var err error
	if p.Default, err = ParseSchedule("default", def); err != nil {
		return Policy{}, err
	}
	for _, t := range sortedTypes(byType) {
		if p.ByErrorType[t], err = ParseSchedule("by_error_type."+t, byType[t]); err != nil {
			return Policy{}, err
		}
	}
	if err := p.ValidateWith(defLimits, typeLimits); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Strings is the policy written as durations (FormatDelay), the inverse of ParsePolicy.
func (p Policy) Strings() (def []string, byType map[string][]string) {
	byType = map[string][]string{}
	for t, s := range p.ByErrorType {
		byType[t] = FormatSchedule(s)
	}
	return FormatSchedule(p.Default), byType
}

// FormatSchedule writes each delay with FormatDelay.
func FormatSchedule(s []time.Duration) []string {
	out := make([]string, len(s))
	for i, d := range s {
		out[i] = FormatDelay(d)
	}
	return out
}

// FormatDelay writes a delay as a short Go duration: 2h, 15m, 1h30m, 90s.
func FormatDelay(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sortedTypes[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func typeList() string {
	names := make([]string, len(declines.All))
	for i, t := range declines.All {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
