package payments

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stripe/stripe-go/v76"
)

// bankTransferIntentFixture is a confirmed customer-balance PaymentIntent as Stripe
// answers it: requires_action with display_bank_transfer_instructions.
const bankTransferIntentFixture = `{"id":"pi_banktransfer","object":"payment_intent","amount":12050,"amount_received":0,
"currency":"eur","status":"requires_action","capture_method":"automatic","confirmation_method":"automatic",
"created":1234567890,"livemode":false,"metadata":{"invoice_id":"inv_123"},"payment_method_types":["customer_balance"],
"next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{
  "amount_remaining":12050,"currency":"eur","reference":"RB6GXS5GKZYM","type":"eu_bank_transfer",
  "hosted_instructions_url":"https://payments.stripe.com/bank_transfers/instructions/test",
  "financial_addresses":[{"type":"iban","supported_networks":["sepa"],
    "iban":{"account_holder_name":"Stripe Technology Europe Limited","bic":"SXPYDEHH","country":"DE","iban":"DE00000000000000000001"}}]}}}`

// recordingTransport keeps the form bodies of the requests it forwards.
type recordingTransport struct {
	mu    sync.Mutex
	forms []url.Values
	keys  []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		raw, _ := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(strings.NewReader(string(raw)))
		form, _ := url.ParseQuery(string(raw))
		r.mu.Lock()
		r.forms = append(r.forms, form)
		r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestStripeBankTransferAgainstStripeMock creates the customer-balance PaymentIntent of a
// bank-transfer invoice through stripe-go against stripe-mock, which validates every
// parameter against Stripe's OpenAPI spec, and reads the instructions from its answer.
func TestStripeBankTransferAgainstStripeMock(t *testing.T) {
	fixtures := filepath.Join(t.TempDir(), "fixtures.json")
	if err := os.WriteFile(fixtures, []byte(`{"resources":{"payment_intent":`+bankTransferIntentFixture+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startStripeMock(t, "-fixtures", fixtures)
	rec := &recordingTransport{}
	s, err := NewStripe(StripeConfig{SecretKey: "sk_test_123", BaseURL: base, HTTPClient: &http.Client{Transport: rec, Timeout: 10 * time.Second},
		EUBankTransferCountry: "FR"})
	if err != nil {
		t.Fatal(err)
	}
	req := BankTransferRequest{IdempotencyKey: "inv_123:bank_transfer", CustomerRef: "cus_123", Amount: decimal.RequireFromString("120.50"),
		Currency: "EUR", Description: "Invoice INV-2026-000001", Metadata: map[string]string{"invoice_id": "inv_123"}}
	ins, err := s.RequestBankTransfer(context.Background(), req)
	if err != nil {
		t.Fatalf("RequestBankTransfer against stripe-mock: %v", err)
	}
	want := BankTransferInstructions{Provider: "stripe", ProviderReference: "pi_banktransfer", Type: "eu_bank_transfer",
		Amount: decimal.RequireFromString("120.50"), Currency: "EUR", Reference: "RB6GXS5GKZYM",
		AccountHolder: "Stripe Technology Europe Limited", IBAN: "DE00000000000000000001", BIC: "SXPYDEHH", Country: "DE",
		HostedInstructionsURL: "https://payments.stripe.com/bank_transfers/instructions/test"}
	if !ins.Amount.Equal(want.Amount) {
		t.Errorf("amount = %s, want %s", ins.Amount, want.Amount)
	}
	ins.Amount = want.Amount
	if !strings.HasPrefix(ins.ProviderReference, "pi_") {
		t.Errorf("provider reference = %q, want the PaymentIntent's id", ins.ProviderReference)
	}
	ins.ProviderReference = want.ProviderReference // stripe-mock makes a new id for each create
	if !reflect.DeepEqual(ins, want) {
		t.Errorf("instructions =\n  %+v\nwant\n  %+v", ins, want)
	}
	if len(rec.forms) != 1 {
		t.Fatalf("%d requests sent, want 1", len(rec.forms))
	}
	form := rec.forms[0]
	for k, v := range map[string]string{
		"amount": "12050", "currency": "eur", "customer": "cus_123", "confirm": "true",
		"payment_method_types[0]":                                                            "customer_balance",
		"payment_method_data[type]":                                                          "customer_balance",
		"payment_method_options[customer_balance][funding_type]":                             "bank_transfer",
		"payment_method_options[customer_balance][bank_transfer][type]":                      "eu_bank_transfer",
		"payment_method_options[customer_balance][bank_transfer][eu_bank_transfer][country]": "FR",
		"metadata[invoice_id]":                                                               "inv_123",
	} {
		if got := form.Get(k); got != v {
			t.Errorf("request %s = %q, want %q (form %v)", k, got, v, form)
		}
	}
	if rec.keys[0] != "inv_123:bank_transfer" {
		t.Errorf("Idempotency-Key = %q, want the invoice's", rec.keys[0])
	}

	// GBP and USD pick their own transfer types (stripe-mock validates them too); the
	// fixture answers with the IBAN address whatever was asked.
	for cur, typ := range map[string]string{"GBP": "gb_bank_transfer", "USD": "us_bank_transfer"} {
		r := req
		r.Currency = cur
		if _, err := s.RequestBankTransfer(context.Background(), r); err != nil {
			t.Fatalf("RequestBankTransfer %s: %v", cur, err)
		}
		form := rec.forms[len(rec.forms)-1]
		if got := form.Get("payment_method_options[customer_balance][bank_transfer][type]"); got != typ {
			t.Errorf("%s: bank_transfer[type] = %q, want %q", cur, got, typ)
		}
	}
	// No bank transfers in JPY here, and none without a Stripe customer.
	r := req
	r.Currency = "JPY"
	r.Amount = decimal.NewFromInt(1000)
	if _, err := s.RequestBankTransfer(context.Background(), r); !errors.Is(err, ErrBankTransferUnsupported) {
		t.Errorf("JPY: err = %v, want ErrBankTransferUnsupported", err)
	}
	r = req
	r.CustomerRef = ""
	if _, err := s.RequestBankTransfer(context.Background(), r); !errors.Is(err, ErrBankTransferUnsupported) {
		t.Errorf("no Stripe customer: err = %v, want ErrBankTransferUnsupported", err)
	}
}

// TestParseStripeFundingEvents turns the bank-transfer webhooks into funding events.
func TestParseStripeFundingEvents(t *testing.T) {
	partial := `{"id":"pi_bt","object":"payment_intent","amount":10000,"amount_received":0,"currency":"eur","status":"requires_action",
	  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":"inv_9"},
	  "next_action":{"type":"display_bank_transfer_instructions","display_bank_transfer_instructions":{"amount_remaining":7000,"currency":"eur","reference":"REF","type":"eu_bank_transfer"}}}`
	succeeded := `{"id":"pi_bt","object":"payment_intent","amount":10000,"amount_received":10000,"currency":"eur","status":"succeeded",
	  "payment_method_types":["customer_balance"],"metadata":{"invoice_id":"inv_9"}}`
	applied := `{"id":"ccsbtxn_1","object":"customer_cash_balance_transaction","currency":"eur","customer":"cus_1","net_amount":-3000,
	  "ending_balance":0,"type":"applied_to_payment","applied_to_payment":{"payment_intent":"pi_bt"}}`
	funded := `{"id":"ccsbtxn_2","object":"customer_cash_balance_transaction","currency":"eur","customer":"cus_1","net_amount":3000,
	  "ending_balance":3000,"type":"funded","funded":{"bank_transfer":{"type":"eu_bank_transfer","reference":"REF"}}}`
	meta := map[string]string{"invoice_id": "inv_9"}
	cases := []struct {
		name, typ, obj string
		want           *Event
	}{
		{"partially funded", "payment_intent.partially_funded", partial, &Event{ID: "evt_1", Provider: "stripe", Reference: "pi_bt",
			Status: StatusPending, Metadata: meta, Funding: &Funding{Known: true, Received: decimal.RequireFromString("30"), Currency: "EUR"}}},
		{"succeeded", "payment_intent.succeeded", succeeded, &Event{ID: "evt_1", Provider: "stripe", Reference: "pi_bt",
			Status: StatusSettled, Metadata: meta, Funding: &Funding{Known: true, Received: decimal.RequireFromString("100"), Currency: "EUR", Complete: true}}},
		{"applied to payment", "customer_cash_balance_transaction.created", applied, &Event{ID: "evt_1", Provider: "stripe", Reference: "pi_bt",
			Status: StatusPending, Funding: &Funding{Currency: "EUR"}}},
		{"funded (not yet the invoice's)", "customer_cash_balance_transaction.created", funded, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := eventJSON("evt_1", c.typ, c.obj)
			ev, ok, err := ParseStripeEvent(payload, sign(payload, testWebhookSecret, time.Now()), testWebhookSecret)
			if err != nil {
				t.Fatalf("ParseStripeEvent: %v", err)
			}
			if c.want == nil {
				if ok {
					t.Fatalf("accepted %+v, want ignored", ev)
				}
				return
			}
			if !ok || ev.Funding == nil {
				t.Fatalf("ParseStripeEvent = (%+v, %v), want a funding event", ev, ok)
			}
			if !ev.Funding.Received.Equal(c.want.Funding.Received) {
				t.Errorf("received = %s, want %s", ev.Funding.Received, c.want.Funding.Received)
			}
			ev.Funding.Received = c.want.Funding.Received
			if !reflect.DeepEqual(ev, *c.want) {
				t.Errorf("event =\n  %+v %+v\nwant\n  %+v %+v", ev, *ev.Funding, *c.want, *c.want.Funding)
			}
		})
	}
}

// TestSimVirtualIBAN: the same valid, clearly fake IBAN for a customer every time.
func TestSimVirtualIBAN(t *testing.T) {
	a, b := SimVirtualIBAN("cus_a"), SimVirtualIBAN("cus_b")
	if a != SimVirtualIBAN("cus_a") || a == b {
		t.Fatalf("IBANs %s, %s: want deterministic and distinct per customer", a, b)
	}
	for _, iban := range []string{a, b} {
		if len(iban) != 22 || !strings.HasPrefix(iban, "DE") || iban[4:12] != "00000000" {
			t.Errorf("%s: want a German IBAN with the non-existent bank code 00000000", iban)
		}
		rem := 0
		for _, r := range iban[4:] + iban[:4] {
			if r >= 'A' && r <= 'Z' {
				rem = (rem*100 + int(r-'A'+10)) % 97
			} else {
				rem = (rem*10 + int(r-'0')) % 97
			}
		}
		if rem != 1 {
			t.Errorf("%s: check digits are wrong (mod 97 = %d)", iban, rem)
		}
	}
}

// TestStripeIntentPaidAtOnceIsAFunding: a customer-balance intent that comes back
// succeeded without next_action (the cash balance covered it) is a funding with nothing
// to transfer (Funded), not a refusal; one still waiting without instructions is refused.
func TestStripeIntentPaidAtOnceIsAFunding(t *testing.T) {
	paid := &stripe.PaymentIntent{ID: "pi_paid", Amount: 3000, AmountReceived: 3000, Currency: "eur", Status: stripe.PaymentIntentStatusSucceeded}
	ins, err := bankTransferInstructionsFromIntent(paid)
	if err != nil || !ins.Funded || ins.ProviderReference != "pi_paid" || ins.Amount.String() != "30" || ins.Currency != "EUR" {
		t.Fatalf("paid at once: %+v, %v; want a funded pi_paid of 30 EUR", ins, err)
	}
	waiting := &stripe.PaymentIntent{ID: "pi_waiting", Amount: 3000, Currency: "eur", Status: stripe.PaymentIntentStatusRequiresAction}
	if _, err := bankTransferInstructionsFromIntent(waiting); err == nil {
		t.Fatal("an intent waiting without instructions was accepted")
	}
}
