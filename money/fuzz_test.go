package money

import (
	"errors"
	"testing"

	"payorch/apperr"
)

// wellFormed is the fuzz oracle for ParseAmount, written without the parser's regular
// expression: 1 to 15 ASCII digits, optionally a dot and 1 to 6 digits, of which those past
// the currency's exponent are zeros. Nothing else (signs, exponents, spaces, hex, Unicode
// digits, "1.", ".5") is an amount.
func wellFormed(s string, exp int) bool {
	intPart, frac, hasDot := s, "", false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac, hasDot = s[:i], s[i+1:], true
			break
		}
	}
	digits := func(p string) bool {
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
		return true
	}
	if len(intPart) < 1 || len(intPart) > 15 || !digits(intPart) {
		return false
	}
	if !hasDot {
		return true
	}
	if len(frac) < 1 || len(frac) > 6 || !digits(frac) {
		return false
	}
	for i := exp; i < len(frac); i++ {
		if frac[i] != '0' {
			return false
		}
	}
	return true
}

// FuzzParseAmount checks amount parsing against an independent oracle for every supported
// exponent (EUR 2, JPY 0, KWD 3): it never panics, accepts exactly the well-formed amounts,
// never rounds (the value formats back to the same number and converts exactly to minor
// units and back), and ParseAmountParam answers every refusal as a typed 400 on "amount"
// and never returns zero, a negative amount or MaxAmount and above. The interesting seeds
// are in testdata/fuzz/FuzzParseAmount.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.50", "0", "999999999999.99", "1.005", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, cur := range []string{"EUR", "JPY", "KWD"} {
			exp, _ := Exponent(cur)
			d, err := ParseAmount(s, cur)
			want := wellFormed(s, int(exp))
			if (err == nil) != want {
				t.Fatalf("ParseAmount(%q, %s) = %v, %v; well-formed: %v", s, cur, d, err, want)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidAmount) && !errors.Is(err, ErrTooManyDecimals) {
					t.Fatalf("ParseAmount(%q, %s) error %v is neither ErrInvalidAmount nor ErrTooManyDecimals", s, cur, err)
				}
			} else {
				if d.IsNegative() {
					t.Fatalf("ParseAmount(%q, %s) = %s, negative", s, cur, d)
				}
				back, err := ParseAmount(Format(d, cur), cur)
				if err != nil || !back.Equal(d) {
					t.Fatalf("ParseAmount(%q, %s) = %s formats as %q, which parses to %v, %v", s, cur, d, Format(d, cur), back, err)
				}
				minor, err := ToMinor(d, cur)
				if err != nil {
					t.Fatalf("ToMinor(%s, %s): %v", d, cur, err)
				}
				if again, _ := FromMinor(minor, cur); !again.Equal(d) {
					t.Fatalf("%s %s → %d minor units → %s", d, cur, minor, again)
				}
			}

			for _, allowZero := range []bool{false, true} {
				p, err := ParseAmountParam(s, cur, allowZero)
				if err != nil {
					e, ok := apperr.As(err)
					if !ok || e.Kind != apperr.Invalid || e.Param != "amount" || e.Code == "" || e.Message == "" {
						t.Fatalf("ParseAmountParam(%q, %s) error is not a typed 400 on amount: %#v", s, cur, err)
					}
					continue
				}
				if !want {
					t.Fatalf("ParseAmountParam(%q, %s) accepted a malformed amount: %s", s, cur, p)
				}
				if p.IsNegative() || (!allowZero && p.IsZero()) || p.GreaterThanOrEqual(MaxAmount) {
					t.Fatalf("ParseAmountParam(%q, %s, allowZero=%v) = %s, out of range", s, cur, allowZero, p)
				}
			}
		}
	})
}
