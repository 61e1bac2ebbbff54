package dunning

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"payorch/apperr"
)

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]string{"2h", "12h", "24h"}, map[string][]string{"processing_error": {"15m", "1h", "6h"}, "provider_error": {"1h30m"}, "unknown": {"30h", "8h"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Default, seeds) || !reflect.DeepEqual(p.ByErrorType["processing_error"], []time.Duration{15 * time.Minute, time.Hour, 6 * time.Hour}) {
		t.Fatalf("policy %+v", p)
	}
	def, by := p.Strings()
	if !reflect.DeepEqual(def, []string{"2h", "12h", "24h"}) || !reflect.DeepEqual(by["processing_error"], []string{"15m", "1h", "6h"}) || by["provider_error"][0] != "1h30m" {
		t.Fatalf("strings %v %v", def, by)
	}
	if s, rule := p.For("processing_error"); rule != "processing_error" || len(s) != 3 || s[0] != 15*time.Minute {
		t.Fatalf("For(processing_error) = %v %s", s, rule)
	}
	if s, rule := p.For("declined"); rule != RuleDefault || !reflect.DeepEqual(s, seeds) {
		t.Fatalf("For(declined) = %v %s", s, rule)
	}
}

// TestParsePolicyRefuses: every bad policy is a typed 400 naming the field, before
// anything is stored: durations, step counts, unknown types, and the types whose rules
// are fixed (hard declines, fraud).
func TestParsePolicyRefuses(t *testing.T) {
	ok := []string{"2h"}
	eleven := strings.Split("1m,1m,1m,1m,1m,1m,1m,1m,1m,1m,1m", ",")
	tests := []struct {
		name   string
		def    []string
		by     map[string][]string
		param  string
		code   string
		inText string
	}{
		{"no default", nil, nil, "default", "schedule_invalid", "1 to 10 delays"},
		{"not a duration", []string{"2h", "soon"}, nil, "default", "schedule_invalid", `delay 2 ("soon")`},
		{"zero", []string{"0s"}, nil, "default", "schedule_invalid", "must be positive"},
		{"negative", []string{"-1h"}, nil, "default", "schedule_invalid", "must be positive"},
		{"too long a delay", []string{"721h"}, nil, "default", "schedule_invalid", "at most 720h"},
		{"eleven steps", eleven, nil, "default", "schedule_invalid", "got 11"},
		{"type: eleven steps", ok, map[string][]string{"declined": eleven}, "by_error_type.declined", "schedule_invalid", "got 11"},
		{"type: empty", ok, map[string][]string{"declined": {}}, "by_error_type.declined", "schedule_invalid", "got 0"},
		{"type: negative", ok, map[string][]string{"processing_error": {"15m", "-1m"}}, "by_error_type.processing_error", "schedule_invalid", "delay 2"},
		{"unknown type", ok, map[string][]string{"card_declined": {"1h"}}, "by_error_type.card_declined", "error_type_unknown", "processing_error"},
		{"fraud is fixed", ok, map[string][]string{"fraud": {"1h"}}, "by_error_type.fraud", "error_type_rule_fixed", "never retried"},
		{"hard decline is fixed", ok, map[string][]string{"payment_method_expired": {"1h"}}, "by_error_type.payment_method_expired", "error_type_rule_fixed", "waits for a new payment method"},
		{"type: longer than the default's total", []string{"2h", "12h", "24h"}, map[string][]string{"processing_error": {"24h", "48h", "72h"}}, "by_error_type.processing_error", "schedule_exceeds_deadline", "totals 144h, longer than the default schedule's 38h"},
		{"type: one step past the default's total", []string{"2h", "12h", "24h"}, map[string][]string{"unknown": {"38h", "1m"}}, "by_error_type.unknown", "schedule_exceeds_deadline", "every invoice's retry deadline"},
		{"a nanosecond", []string{"1ns", "2h"}, nil, "default", "schedule_invalid", "delay 1 (1ns) must be at least 1m"},
		{"type: under a minute", ok, map[string][]string{"processing_error": {"15m", "59s"}}, "by_error_type.processing_error", "schedule_invalid", "delay 2 (59s) must be at least 1m"},
		{"authentication_required is fixed", ok, map[string][]string{"authentication_required": {"1h"}}, "by_error_type.authentication_required", "error_type_rule_fixed", "hard decline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy(tt.def, tt.by)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Invalid || e.Param != tt.param || e.Code != tt.code || !strings.Contains(e.Message, tt.inText) {
				t.Fatalf("error %v, want %s %s containing %q", err, tt.param, tt.code, tt.inText)
			}
		})
	}
}

// TestPolicyLimits: the floor is lowered only by an explicit setting, and a stored policy
// is read back with its shape checked only, whatever today's bounds say.
func TestPolicyLimits(t *testing.T) {
	secs := EdgeLimits(time.Second)
	if _, err := ParsePolicyWith([]string{"1h"}, map[string][]string{"processing_error": {"1s", "2s"}}, secs, secs); err != nil {
		t.Fatalf("floor lowered to 1s: %v", err)
	}
	if EdgeLimits(0).MinDelay != time.Minute {
		t.Fatalf("default floor %s", EdgeLimits(0).MinDelay)
	}
	old := strings.Split("30s,1m,1m,1m,1m,1m,1m,1m,1m,1m,1000h", ",")
	p, err := ParsePolicyWith(old, map[string][]string{"processing_error": {"2000h"}}, StoredLimits, StoredLimits)
	if err != nil || len(p.Default) != 11 || p.ByErrorType["processing_error"][0] != 2000*time.Hour {
		t.Fatalf("stored policy outside today's bounds: %+v %v", p, err)
	}
	for _, bad := range [][]string{nil, {"0s"}, {"-1m"}, {"soon"}} {
		if _, err := ParsePolicyWith(bad, nil, StoredLimits, StoredLimits); err == nil {
			t.Errorf("stored default %v accepted", bad)
		}
	}
}

func TestFixedRules(t *testing.T) {
	r := FixedRules()
	want := []string{"authentication_required", "fraud", "payment_method_expired", "payment_method_invalid", "payment_method_not_supported"}
	if got := sortedTypes(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("fixed rules for %v, want %v", got, want)
	}
}

func TestFormatDelay(t *testing.T) {
	for d, want := range map[time.Duration]string{2 * time.Hour: "2h", 15 * time.Minute: "15m", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", 36 * time.Hour: "36h"} {
		if got := FormatDelay(d); got != want {
			t.Errorf("FormatDelay(%s) = %q, want %q", d, got, want)
		}
	}
}
