package money

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"payorch/apperr"
)

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in, cur, want string
		err           error
	}{
		{"12.50", "EUR", "12.5", nil},
		{"12.5", "USD", "12.5", nil},
		{"12", "EUR", "12", nil},
		{"0.00", "EUR", "0", nil},
		{"12.505", "EUR", "", ErrTooManyDecimals},
		{"12.500", "EUR", "12.5", nil}, // trailing zeros are not extra precision
		{"1000", "JPY", "1000", nil},
		{"1000.5", "JPY", "", ErrTooManyDecimals},
		{"1.234", "KWD", "1.234", nil},
		{"1.2345", "KWD", "", ErrTooManyDecimals},
		{"-1.00", "EUR", "", ErrInvalidAmount},
		{"+1.00", "EUR", "", ErrInvalidAmount},
		{"1e3", "EUR", "", ErrInvalidAmount},
		{"", "EUR", "", ErrInvalidAmount},
		{" 1.00", "EUR", "", ErrInvalidAmount},
		{"1.", "EUR", "", ErrInvalidAmount},
		{".5", "EUR", "", ErrInvalidAmount},
		{"1.00", "XXX", "", ErrUnknownCurrency},
	}
	for _, c := range cases {
		got, err := ParseAmount(c.in, c.cur)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParseAmount(%q,%s) error = %v, want %v", c.in, c.cur, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAmount(%q,%s) unexpected error %v", c.in, c.cur, err)
			continue
		}
		if !got.Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("ParseAmount(%q,%s) = %s, want %s", c.in, c.cur, got, c.want)
		}
	}
}

func TestMinorUnits(t *testing.T) {
	cases := []struct {
		amount, cur string
		minor       int64
	}{
		{"12.50", "EUR", 1250},
		{"0.01", "USD", 1},
		{"1000", "JPY", 1000},
		{"1.234", "KWD", 1234},
		{"0", "EUR", 0},
	}
	for _, c := range cases {
		d := decimal.RequireFromString(c.amount)
		got, err := ToMinor(d, c.cur)
		if err != nil || got != c.minor {
			t.Errorf("ToMinor(%s %s) = %d, %v; want %d", c.amount, c.cur, got, err, c.minor)
		}
		back, err := FromMinor(c.minor, c.cur)
		if err != nil || !back.Equal(d) {
			t.Errorf("FromMinor(%d %s) = %s, %v; want %s", c.minor, c.cur, back, err, c.amount)
		}
	}
	for _, bad := range []struct{ amount, cur string }{{"12.505", "EUR"}, {"0.5", "JPY"}, {"1.2345", "KWD"}, {"1", "XXX"}} {
		if _, err := ToMinor(decimal.RequireFromString(bad.amount), bad.cur); err == nil {
			t.Errorf("ToMinor(%s %s) succeeded, want an error", bad.amount, bad.cur)
		}
	}
	if _, err := ToMinor(decimal.RequireFromString("1e30"), "EUR"); !errors.Is(err, ErrNotExact) {
		t.Errorf("ToMinor of a huge amount: %v, want ErrNotExact", err)
	}
}

func TestFormatAndCurrency(t *testing.T) {
	if got := Format(decimal.RequireFromString("12.5"), "EUR"); got != "12.50" {
		t.Errorf("Format = %q", got)
	}
	if got := Format(decimal.RequireFromString("1000"), "JPY"); got != "1000" {
		t.Errorf("Format JPY = %q", got)
	}
	if c, err := NormalizeCurrency("eur"); err != nil || c != "EUR" {
		t.Errorf("NormalizeCurrency(eur) = %q, %v", c, err)
	}
	if _, err := NormalizeCurrency("EURO"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("NormalizeCurrency(EURO) = %v", err)
	}
}

// TestParseAmountParam: an amount parameter with more decimals than its currency allows is
// a 400, never rounded (DESIGN.md "Money"); missing, zero (unless allowed) and too large too.
func TestParseAmountParam(t *testing.T) {
	for _, c := range []struct {
		s, cur    string
		allowZero bool
		code      string
	}{
		{"12.50", "EUR", false, ""}, {"0", "EUR", true, ""}, {"1000", "JPY", false, ""}, {"1.234", "KWD", false, ""},
		{"", "EUR", false, "parameter_missing"}, {"12.505", "EUR", false, "amount_invalid"}, {"1.5", "JPY", false, "amount_invalid"},
		{"0.00", "EUR", false, "amount_invalid"}, {"-1", "EUR", false, "amount_invalid"}, {"1e3", "EUR", false, "amount_invalid"},
		{"1000000000000", "EUR", false, "amount_too_large"},
	} {
		d, err := ParseAmountParam(c.s, c.cur, c.allowZero)
		var ae *apperr.Error
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%q %s: %v", c.s, c.cur, err)
		case c.code != "" && (!errors.As(err, &ae) || ae.Code != c.code || ae.Param != "amount" || ae.Kind != apperr.Invalid):
			t.Errorf("%q %s: error %v, want 400 %s on amount", c.s, c.cur, err, c.code)
		case c.code == "" && !d.Equal(decimal.RequireFromString(c.s)):
			t.Errorf("%q %s parsed as %s", c.s, c.cur, d)
		}
	}
}
