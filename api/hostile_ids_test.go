package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// hostileCase is one hostile request and the statuses it may get (all 4xx).
type hostileCase struct {
	name, method, path, body string
	headers                  map[string]string
	want                     []int
}

// run sends each case: a 4xx among want, with the typed error envelope, and no row
// written anywhere.
func (fs *fuzzServer) runHostile(t *testing.T, cases []hostileCase) {
	t.Helper()
	for _, c := range cases {
		before := fs.rows(t)
		r := fs.send(c.method, c.path, c.body, c.headers)
		code := fs.checkRefusal(t, c.name, r, before)
		ok := false
		for _, w := range c.want {
			ok = ok || r.Status == w
		}
		if !ok || code == "" {
			t.Errorf("%s: %d %s, want one of %v: %.300s", c.name, r.Status, code, c.want, r.Body)
		}
	}
}

// created sends a request that must succeed (2xx) and returns its body's field (id unless
// another is named).
func (fs *fuzzServer) created(t *testing.T, method, path, body string, headers map[string]string, field string) string {
	t.Helper()
	r := fs.send(method, path, body, headers)
	if r.Status >= 300 {
		t.Fatalf("fixture %s %s: %d %s", method, path, r.Status, r.Body)
	}
	return jsonField(t, r.Body, field)
}

// TestHostileOtherCustomersIDs: customer A's portal token (and A's portal page session)
// used with customer B's ids on every portal route that takes an id, and backend requests that pair A's resource with
// B's (B's payment method made A's default or detached from A, B's load or wallet
// transaction under A's wallet, B's subscription on A's invoice): each is a 404 (or
// another typed 4xx) and writes nothing; and B's objects are still B's and intact.
func TestHostileOtherCustomersIDs(t *testing.T) {
	fs := newFuzzServer(t) // customer A: fs.customerID, fs.walletID, fs.portalToken
	a, walA := fs.customerID, fs.walletID
	b := fs.created(t, http.MethodPost, "/v1/customers", `{"name":"Bob","email":"bob@example.com","currency":"EUR"}`, nil, "id")
	fs.created(t, http.MethodPost, "/v1/wallets", fmt.Sprintf(`{"customer_id":%q}`, b), nil, "id")
	tokenB := fs.created(t, http.MethodPost, "/v1/customers/"+b+"/portal-sessions", "", nil, "token")
	asB := map[string]string{"Authorization": "Bearer " + tokenB}
	pmB := fs.created(t, http.MethodPost, "/v1/customers/"+b+"/payment-methods",
		`{"type":"card","provider_id":"pm_card_visa","exp_month":12,"exp_year":2030,"default":true}`, nil, "id")
	// A free load credits B's wallet at once, with a credit note.
	r := fs.send(http.MethodPost, "/v1/wallets/"+walletOf(t, fs, b)+"/load", `{"amount":"5.00","type":"free"}`, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("fixture load: %d %s", r.Status, r.Body)
	}
	loadB := jsonField(t, r.Body, "id")
	var txB, creditNoteB string
	if err := fs.pool.QueryRow(context.Background(),
		`SELECT t.id, n.id FROM wallet_transactions t JOIN credit_notes n ON n.customer_id = $1 WHERE t.wallet_id = $2`, b, walletOf(t, fs, b)).
		Scan(&txB, &creditNoteB); err != nil {
		t.Fatal(err)
	}
	invB := fs.created(t, http.MethodPost, "/v1/invoices",
		fmt.Sprintf(`{"customer_id":%q,"lines":[{"description":"Plan","amount":"3.00"}],"payment_method":"bank_transfer"}`, b), nil, "id")
	subB := fs.created(t, http.MethodPost, "/v1/subscriptions",
		fmt.Sprintf(`{"customer_id":%q,"amount":"30.00","current_period_start":"2026-01-01T00:00:00Z","current_period_end":"2026-02-01T00:00:00Z"}`, b), nil, "id")
	setupB := fs.created(t, http.MethodPost, "/v1/portal/card-setups", "", asB, "id")

	notFound := []int{http.StatusNotFound}
	cases := []hostileCase{
		// A's portal token, B's ids (send authenticates /v1/portal/ with A's token).
		{"portal: B's invoice PDF", http.MethodGet, "/v1/portal/invoices/" + invB + "/pdf", "", nil, notFound},
		{"portal: B's credit note PDF", http.MethodGet, "/v1/portal/credit-notes/" + creditNoteB + "/pdf", "", nil, notFound},
		{"portal: B's invoice authentication", http.MethodPost, "/v1/portal/invoices/" + invB + "/authentications", "", nil, notFound},
		{"portal: B's invoice authentication complete", http.MethodPost, "/v1/portal/invoices/" + invB + "/authentications/pay_x/complete", "", nil, notFound},
		// The provider checks the setup (not succeeded: 422; another customer's: 400
		// card_step_mismatch); either way nothing is saved for A.
		{"portal: B's card setup completed by A", http.MethodPost, "/v1/portal/card-setups/" + setupB + "/complete", `{"payment_method":"pm_card_visa"}`, nil, []int{400, 404, 422}},
		// Backend requests pairing A's resource with B's.
		{"B's payment method as A's default", http.MethodPost, "/v1/customers/" + a + "/payment-methods/" + pmB + "/default", "", nil, notFound},
		{"B's payment method detached from A", http.MethodPost, "/v1/customers/" + a + "/payment-methods/" + pmB + "/detach", "", nil, notFound},
		{"B's load under A's wallet", http.MethodGet, "/v1/wallets/" + walA + "/loads/" + loadB, "", nil, notFound},
		{"B's wallet transaction reverted under A's wallet", http.MethodPost, "/v1/wallets/" + walA + "/transactions/" + txB + "/revert", "", nil, notFound},
		{"A's invoice on B's subscription", http.MethodPost, "/v1/invoices",
			fmt.Sprintf(`{"customer_id":%q,"subscription_id":%q,"lines":[{"description":"Plan","amount":"3.00"}]}`, a, subB), nil, []int{400, 404, 409, 422}},
		{"a second wallet for B", http.MethodPost, "/v1/wallets", fmt.Sprintf(`{"customer_id":%q}`, b), nil, []int{http.StatusConflict}},
	}
	fs.runHostile(t, cases)

	// The portal page, with A's session cookie (and A's valid CSRF field on forms).
	csrf := "csrf=" + csrfToken(fs.portalToken)
	for _, c := range []struct{ name, method, path, form string }{
		{"page: B's invoice PDF", http.MethodGet, "/portal/invoices/" + invB + "/pdf", ""},
		{"page: B's credit note PDF", http.MethodGet, "/portal/credit-notes/" + creditNoteB + "/pdf", ""},
		{"page: B's invoice authentication", http.MethodPost, "/portal/invoices/" + invB + "/authenticate", csrf},
		{"page: B's invoice authentication complete", http.MethodPost, "/portal/invoices/" + invB + "/authenticate/complete", csrf + "&payment_id=pi_sim_x"},
	} {
		before := fs.rows(t)
		r := fs.sendPage(c.method, c.path, c.form, "")
		if r.Status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404: %.200s", c.name, r.Status, r.Body)
		}
		if after := fs.rows(t); after != before {
			t.Errorf("%s: rows changed:\nbefore %s\nafter  %s", c.name, before, after)
		}
	}

	// B's objects are B's, intact: B's token sees B's invoice, B's default card is still
	// B's, B's credit stands.
	if r := fs.send(http.MethodGet, "/v1/portal/invoices/"+invB+"/pdf", "", asB); r.Status != http.StatusOK {
		t.Fatalf("B's own invoice PDF: %d %s", r.Status, r.Body)
	}
	var pmOwner string
	var pmDefault bool
	var balance bool
	if err := fs.pool.QueryRow(context.Background(),
		`SELECT p.customer_id, p.is_default, w.balance = 5 FROM payment_methods p, wallets w WHERE p.id = $1 AND w.customer_id = $2`, pmB, b).
		Scan(&pmOwner, &pmDefault, &balance); err != nil {
		t.Fatal(err)
	}
	if pmOwner != b || !pmDefault || !balance {
		t.Fatalf("B's payment method owner %s default %v, B's balance 5.00: %v", pmOwner, pmDefault, balance)
	}
}

// walletOf returns the customer's wallet id.
func walletOf(t *testing.T, fs *fuzzServer, customerID string) string {
	t.Helper()
	var id string
	if err := fs.pool.QueryRow(context.Background(), "SELECT id FROM wallets WHERE customer_id = $1", customerID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHostileAmountsAndCurrencies: over-precise, negative and malformed amounts on every
// money field not covered by TestHostileRequestsFromOpenAPI (invoice total, reconcile,
// subscription, usage, portal top-up; and a zero-decimal currency, where "1.5" is
// over-precise), and wrong currencies (an invoice in another currency than its
// customer's, customer currencies that are no ISO 4217 code): each a typed 400 that writes
// nothing.
func TestHostileAmountsAndCurrencies(t *testing.T) {
	fs := newFuzzServer(t)
	a := fs.customerID
	invA := fs.created(t, http.MethodPost, "/v1/invoices",
		fmt.Sprintf(`{"customer_id":%q,"lines":[{"description":"Plan","amount":"3.00"}],"payment_method":"bank_transfer"}`, a), nil, "id")
	subBody := func(amount string) string {
		return fmt.Sprintf(`{"customer_id":%q,"amount":%s,"current_period_start":"2026-01-01T00:00:00Z","current_period_end":"2026-02-01T00:00:00Z"}`, a, amount)
	}
	subA := fs.created(t, http.MethodPost, "/v1/subscriptions", subBody(`"30.00"`), nil, "id")
	jpy := fs.created(t, http.MethodPost, "/v1/customers", `{"name":"Yui","email":"yui@example.com","currency":"JPY"}`, nil, "id")
	// Controls: the same requests with a valid amount are accepted.
	if r := fs.send(http.MethodPost, "/v1/subscriptions/"+subA+"/usage", `{"amount":"1.00","description":"x"}`, nil); r.Status >= 300 {
		t.Fatalf("control usage: %d %s", r.Status, r.Body)
	}
	if r := fs.send(http.MethodPost, "/v1/invoices", fmt.Sprintf(`{"customer_id":%q,"lines":[{"description":"Plan","amount":"150"}]}`, jpy), nil); r.Status >= 300 {
		t.Fatalf("control JPY invoice: %d %s", r.Status, r.Body)
	}

	bad := []int{http.StatusBadRequest}
	var cases []hostileCase
	for _, am := range []struct{ name, v string }{
		{"over-precise", `"1.001"`}, {"far over-precise", `"1.0000000000000000000001"`}, {"negative", `"-1.00"`},
		{"exponent", `"1e2"`}, {"hex", `"0x10"`}, {"number", `1.5`}, {"NaN", `"NaN"`}, {"comma", `"1,50"`},
	} {
		cases = append(cases,
			hostileCase{"invoice total " + am.name, http.MethodPost, "/v1/invoices",
				fmt.Sprintf(`{"customer_id":%q,"lines":[{"description":"Plan","amount":"1.00"}],"total":%s}`, a, am.v), nil, bad},
			hostileCase{"reconcile amount " + am.name, http.MethodPost, "/v1/invoices/" + invA + "/reconcile",
				fmt.Sprintf(`{"amount":%s,"reference":"bank-1"}`, am.v), nil, bad},
			hostileCase{"subscription amount " + am.name, http.MethodPost, "/v1/subscriptions", subBody(am.v), nil, bad},
			hostileCase{"usage amount " + am.name, http.MethodPost, "/v1/subscriptions/" + subA + "/usage",
				fmt.Sprintf(`{"amount":%s,"description":"x"}`, am.v), nil, bad},
			hostileCase{"portal top-up amount " + am.name, http.MethodPost, "/v1/portal/wallet/top-ups",
				fmt.Sprintf(`{"amount":%s}`, am.v), nil, bad},
		)
	}
	cases = append(cases,
		hostileCase{"JPY invoice line 1.5", http.MethodPost, "/v1/invoices",
			fmt.Sprintf(`{"customer_id":%q,"lines":[{"description":"Plan","amount":"1.5"}]}`, jpy), nil, bad},
		hostileCase{"EUR customer, USD invoice", http.MethodPost, "/v1/invoices",
			fmt.Sprintf(`{"customer_id":%q,"currency":"USD","lines":[{"description":"Plan","amount":"1.00"}]}`, a), nil, []int{400, 422}},
		hostileCase{"JPY customer, EUR invoice", http.MethodPost, "/v1/invoices",
			fmt.Sprintf(`{"customer_id":%q,"currency":"EUR","lines":[{"description":"Plan","amount":"1.00"}]}`, jpy), nil, []int{400, 422}},
	)
	// ("eur" and " EUR" are read as EUR, by design.)
	for _, cur := range []string{`"EURO"`, `"EU"`, `""`, `"€"`, `"XYZ"`, `978`, `null`, `["EUR"]`} {
		cases = append(cases, hostileCase{"customer currency " + cur, http.MethodPost, "/v1/customers",
			fmt.Sprintf(`{"name":"Cur","email":"c@example.com","currency":%s}`, cur), nil, bad})
	}
	fs.runHostile(t, cases)
}
