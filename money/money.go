// Package money holds the rules for amounts and currencies: ISO 4217 codes, how many
// decimals each currency allows, parsing of decimal strings, and the conversion to and
// from integer minor units used only at the payment-provider boundary.
package money

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"

	"payorch/apperr"
)

// exponents lists the ISO 4217 currencies payorch accepts with their minor-unit exponent
// (number of decimals). Currencies not listed are rejected.
var exponents = map[string]int32{
	// zero-decimal currencies
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	// three-decimal currencies
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// two-decimal currencies
	"AED": 2, "AUD": 2, "BGN": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2,
	"DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"MAD": 2, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "PHP": 2, "PLN": 2, "RON": 2,
	"SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2,
	"ZAR": 2,
}

// ErrUnknownCurrency is returned for a code that is not a supported ISO 4217 currency.
var ErrUnknownCurrency = errors.New("unknown currency")

// ErrInvalidAmount is returned for a string that is not a plain non-negative decimal number.
var ErrInvalidAmount = errors.New("invalid amount")

// ErrTooManyDecimals is returned when an amount has more decimals than its currency allows.
var ErrTooManyDecimals = errors.New("too many decimals for currency")

// ErrNotExact is returned when an amount cannot be expressed exactly in minor units.
var ErrNotExact = errors.New("amount does not convert exactly to minor units")

var amountPattern = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,6})?$`)

// NormalizeCurrency upper-cases a currency code and checks that it is supported.
func NormalizeCurrency(code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if _, ok := exponents[c]; !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	return c, nil
}

// Exponent returns the number of decimals a currency allows.
func Exponent(currency string) (int32, error) {
	e, ok := exponents[currency]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownCurrency, currency)
	}
	return e, nil
}

// ParseAmount parses a decimal string such as "12.50" for the given currency. It refuses
// signs, exponents, and more decimals than the currency allows: an amount is never rounded.
func ParseAmount(s, currency string) (decimal.Decimal, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !amountPattern.MatchString(s) {
		return decimal.Decimal{}, fmt.Errorf("%w: %q is not a decimal string like \"12.50\"", ErrInvalidAmount, s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %q", ErrInvalidAmount, s)
	}
	if err := CheckScale(d, currency); err != nil {
		return decimal.Decimal{}, err
	}
	return d.Round(exp), nil
}

// MaxAmount bounds every amount payorch stores (its columns are numeric(20, 6)).
var MaxAmount = decimal.New(1, 12)

// ParseAmountParam parses the request parameter "amount" for the currency, as ParseAmount
// does, and refuses a missing amount, zero (unless allowZero), and MaxAmount or more, each
// as a 400 naming the parameter (codes parameter_missing, amount_invalid, amount_too_large).
func ParseAmountParam(s, currency string, allowZero bool) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, apperr.InvalidParam("amount", "parameter_missing", "amount is required, as a decimal string like \"30.00\"")
	}
	d, err := ParseAmount(s, currency)
	if err != nil {
		return decimal.Decimal{}, apperr.InvalidParam("amount", "amount_invalid", fmt.Sprintf("amount: %v", err))
	}
	if !allowZero && !d.IsPositive() {
		return decimal.Decimal{}, apperr.InvalidParam("amount", "amount_invalid", "amount must be greater than zero")
	}
	if d.GreaterThanOrEqual(MaxAmount) {
		return decimal.Decimal{}, apperr.InvalidParam("amount", "amount_too_large", "amount must be less than "+MaxAmount.String())
	}
	return d, nil
}

// CheckScale reports ErrTooManyDecimals when d has more significant decimals than the
// currency allows ("12.50" is fine for EUR, "12.505" is not; trailing zeros are ignored).
func CheckScale(d decimal.Decimal, currency string) error {
	exp, err := Exponent(currency)
	if err != nil {
		return err
	}
	if !d.Equal(d.Truncate(exp)) {
		return fmt.Errorf("%w: %s allows %d decimals, got %s", ErrTooManyDecimals, currency, exp, d.String())
	}
	return nil
}

// ToMinor converts an amount to integer minor units (cents for EUR, yen for JPY, fils for
// KWD). It fails when the amount does not convert exactly or does not fit in an int64.
func ToMinor(d decimal.Decimal, currency string) (int64, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return 0, err
	}
	shifted := d.Shift(exp)
	if !shifted.IsInteger() {
		return 0, fmt.Errorf("%w: %s %s", ErrNotExact, d.String(), currency)
	}
	if shifted.GreaterThan(decimal.NewFromInt(1<<62)) || shifted.LessThan(decimal.NewFromInt(-(1 << 62))) {
		return 0, fmt.Errorf("%w: %s %s is out of range", ErrNotExact, d.String(), currency)
	}
	return shifted.IntPart(), nil
}

// FromMinor converts integer minor units back to a decimal amount in the currency.
func FromMinor(minor int64, currency string) (decimal.Decimal, error) {
	exp, err := Exponent(currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return decimal.New(minor, -exp), nil
}

// Exponents returns every supported currency with its number of decimals (a copy): the
// ledger hands it to SQL that formats amounts as Format does.
func Exponents() map[string]int32 {
	out := make(map[string]int32, len(exponents))
	for c, e := range exponents {
		out[c] = e
	}
	return out
}

// Format renders an amount with exactly the currency's number of decimals ("12.50").
func Format(d decimal.Decimal, currency string) string {
	exp, err := Exponent(currency)
	if err != nil {
		return d.String()
	}
	return d.StringFixed(exp)
}
