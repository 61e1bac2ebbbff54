package e2e

import (
	"strings"
	"testing"
	"time"
)

// paymentView is the part of GET /v1/invoices/{id}/payment these tests read.
type paymentView struct {
	PaymentStatus string `json:"payment_status"`
	Hold          string `json:"hold"`
	HoldReason    string `json:"hold_reason"`
	WaitingFor    string `json:"waiting_for"`
}

// invoiceView is the part of GET /v1/invoices/{id} these tests read.
type invoiceView struct {
	Status        string `json:"status"`
	PaymentMethod string `json:"payment_method"`
	VoidReason    string `json:"void_reason"`
	Transactions  []struct {
		Status      string `json:"status"`
		ErrorType   string `json:"error_type"`
		HardDecline bool   `json:"hard_decline"`
	} `json:"transactions"`
}

// Issue 10, through the API as a user meets it: revoked credentials end in one failed
// transaction and an invoice waiting for an operator (not "retry 19 of 4"); a hard decline
// is reported as such in the transaction view; an invoice created while the customer has
// no card is a card invoice that waits (a retry is allowed) and is charged once a card
// is saved; a void's reason is kept.
func TestPaymentEdgesThroughTheAPI(t *testing.T) {
	s := newStack(t, "1s,2s,3s")
	s.startWorker()
	create := func(cust string) string {
		var inv map[string]any
		if code := s.call("POST", "/v1/invoices", map[string]any{"customer_id": cust,
			"lines": []map[string]any{{"description": "Plan", "amount": "19.99"}}}, &inv); code != 201 {
			t.Fatalf("create invoice: %d %v", code, inv)
		}
		return inv["id"].(string)
	}
	payment := func(id string) paymentView {
		var v paymentView
		s.call("GET", "/v1/invoices/"+id+"/payment", nil, &v)
		return v
	}
	invoice := func(id string) invoiceView {
		var v invoiceView
		s.call("GET", "/v1/invoices/"+id, nil, &v)
		return v
	}

	revoked := create(s.newCustomer("Revoked", "pm_sim_bad_credentials"))
	expired := create(s.newCustomer("Expired", "pm_card_chargeDeclinedExpiredCard"))

	s.until("revoked credentials wait for an operator", 30*time.Second, func() bool { return payment(revoked).Hold == "provider_failure" })
	time.Sleep(7 * time.Second) // the whole schedule (1 s + 2 s + 3 s) and more: nothing more happens
	if v := payment(revoked); v.PaymentStatus != "awaiting_action" || !strings.Contains(v.WaitingFor, "operator") {
		t.Errorf("revoked: %+v", v)
	}
	if inv := invoice(revoked); len(inv.Transactions) != 1 || inv.Transactions[0].ErrorType != "provider_error" || inv.Transactions[0].HardDecline {
		t.Errorf("revoked: transactions %+v, want one soft provider_error", inv.Transactions)
	}

	// (The schedule is short: by now its deadline may have errored the invoice.)
	s.until("the expired card was declined", 30*time.Second, func() bool { return len(invoice(expired).Transactions) == 1 })
	if inv := invoice(expired); len(inv.Transactions) != 1 || !inv.Transactions[0].HardDecline {
		t.Errorf("expired: transactions %+v, want one hard decline", inv.Transactions)
	}

	var bare map[string]any
	if code := s.call("POST", "/v1/customers", map[string]any{"name": "Bare", "email": "bare@example.com", "currency": "EUR"}, &bare); code != 201 {
		t.Fatalf("create customer: %d", code)
	}
	noCard := create(bare["id"].(string))
	if inv := invoice(noCard); inv.PaymentMethod != "card" {
		t.Errorf("no card: payment_method %q, want card", inv.PaymentMethod)
	}
	s.until("the invoice without a card waits", 30*time.Second, func() bool { return payment(noCard).Hold == "payment_method_missing" })
	var out map[string]any
	if code := s.call("POST", "/v1/invoices/"+noCard+"/retry", map[string]any{}, &out); code != 200 {
		t.Errorf("retry without a card: %d %v, want 200 (allowed)", code, out)
	}
	var pm map[string]any
	if code := s.call("POST", "/v1/customers/"+bare["id"].(string)+"/payment-methods", map[string]any{"type": "card", "provider_id": "pm_card_visa",
		"exp_month": 12, "exp_year": time.Now().Year() + 2, "last4": "4242", "default": true}, &pm); code != 201 {
		t.Fatalf("add card: %d %v", code, pm)
	}
	s.until("the new card charges it", 30*time.Second, func() bool { return invoice(noCard).Status == "paid" })

	if code := s.call("POST", "/v1/invoices/"+expired+"/void", map[string]any{"reason": "customer churned"}, &out); code != 200 {
		t.Fatalf("void: %d %v", code, out)
	}
	if inv := invoice(expired); inv.Status != "voided" || inv.VoidReason != "customer churned" {
		t.Errorf("void: %+v", inv)
	}
}
