package portal

import (
	"testing"
	"time"

	"payorch/invoices"
)

// TestNeedsAuthentication: only an open invoice with an amount due whose latest card charge
// failed with authentication_required waits for the customer to authenticate.
func TestNeedsAuthentication(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	s := func(v string) *string { return &v }
	card := func(at time.Duration, status string, errType *string) invoices.Transaction {
		return invoices.Transaction{Method: "card", Status: status, ErrorType: errType, CreatedAt: t0.Add(at)}
	}
	authFail := card(0, "failed", s("authentication_required"))
	cases := []struct {
		name string
		inv  invoices.Invoice
		want bool
	}{
		{"auth failed, to pay", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "30.00", Transactions: []invoices.Transaction{authFail}}, true},
		{"auth failed, errored", invoices.Invoice{Status: invoices.StatusError, AmountDue: "30.00", Transactions: []invoices.Transaction{authFail}}, true},
		{"paid", invoices.Invoice{Status: invoices.StatusPaid, AmountDue: "0.00", Transactions: []invoices.Transaction{authFail}}, false},
		{"voided", invoices.Invoice{Status: invoices.StatusVoided, AmountDue: "30.00", Transactions: []invoices.Transaction{authFail}}, false},
		{"nothing due", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "0.00", Transactions: []invoices.Transaction{authFail}}, false},
		{"a later charge declined otherwise", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "30.00",
			Transactions: []invoices.Transaction{authFail, card(time.Hour, "failed", s("declined"))}}, false},
		{"a later charge pending", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "30.00",
			Transactions: []invoices.Transaction{authFail, card(time.Hour, "pending", nil)}}, false},
		{"an earlier auth failure, a later wallet payment", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "10.00",
			Transactions: []invoices.Transaction{authFail, {Method: "wallet", Status: "settled", CreatedAt: t0.Add(time.Hour)}}}, true},
		{"declined only", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "30.00", Transactions: []invoices.Transaction{card(0, "failed", s("declined"))}}, false},
		{"no charge", invoices.Invoice{Status: invoices.StatusToPay, AmountDue: "30.00"}, false},
	}
	for _, c := range cases {
		if got := NeedsAuthentication(c.inv); got != c.want {
			t.Errorf("%s: NeedsAuthentication = %v, want %v", c.name, got, c.want)
		}
	}
}
