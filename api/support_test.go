package api

import (
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"payorch/contracts"
	"payorch/ledger/ledgertest"
	"payorch/mail"
)

// listIDs returns the ids of a list response's data.
func listIDs(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, d := range r.JSON(t)["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// existingID returns error.existing_id of an error body.
func existingID(t *testing.T, r response) string {
	t.Helper()
	s, _ := r.JSON(t)["error"].(map[string]any)["existing_id"].(string)
	return s
}

func oneID(t *testing.T, r response, want string) {
	t.Helper()
	mustStatus(t, r, http.StatusOK)
	if got := listIDs(t, r); len(got) != 1 || got[0] != want {
		t.Fatalf("list %v, want only %s", got, want)
	}
}

// TestLookUpByExternalID: every resource with an external_id is found by it, and a 409 for
// a taken external_id (or a second wallet) names the existing resource.
func TestLookUpByExternalID(t *testing.T) {
	h := &walletHarness{harness: newHarness(t)}
	other := h.customer("EUR")
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": "EUR", "external_id": "crm-7"})
	mustStatus(t, r, 201)
	cust := r.JSON(t)["id"].(string)
	if r.JSON(t)["wallet_id"] != nil {
		t.Fatalf("a new customer shows a wallet: %s", r.Body)
	}
	oneID(t, h.do("GET", "/v1/customers?external_id=crm-7", supportKey, nil), cust)
	mustStatus(t, h.do("GET", "/v1/customers?external_id=crm-none", supportKey, nil), 200)
	if got := listIDs(t, h.do("GET", "/v1/customers?external_id=crm-none", supportKey, nil)); len(got) != 0 {
		t.Fatalf("unknown external_id lists %v", got)
	}
	dup := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "B", "email": "b@example.com", "currency": "EUR", "external_id": "crm-7"})
	mustStatus(t, dup, http.StatusConflict)
	if dup.ErrorCode(t) != "external_id_taken" || existingID(t, dup) != cust {
		t.Fatalf("409 does not name %s: %s", cust, dup.Body)
	}

	pmBody := map[string]any{"type": "card", "provider_id": "pm_card_visa", "exp_month": 12, "exp_year": time.Now().Year() + 1, "external_id": "pm-ext-1"}
	r = h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, pmBody)
	mustStatus(t, r, 201)
	pm := r.JSON(t)["id"].(string)
	h.method(cust, "pm_card_mastercard")
	oneID(t, h.do("GET", "/v1/customers/"+cust+"/payment-methods?external_id=pm-ext-1", supportKey, nil), pm)
	dup = h.do("POST", "/v1/customers/"+other+"/payment-methods", backendKey, pmBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != pm {
		t.Fatalf("409 does not name %s: %s", pm, dup.Body)
	}
	mustStatus(t, h.do("GET", "/v1/customers/"+cust+"/payment-methods?status=active", supportKey, nil), 400)

	subBody := map[string]any{"customer_id": cust, "amount": "30.00", "current_period_start": "2026-11-01T00:00:00Z",
		"current_period_end": "2026-12-01T00:00:00Z", "external_id": "sub-ext-1"}
	r = h.do("POST", "/v1/subscriptions", backendKey, subBody)
	mustStatus(t, r, 201)
	sub := r.JSON(t)["id"].(string)
	mustStatus(t, h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "5.00",
		"current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z"}), 201)
	oneID(t, h.do("GET", "/v1/subscriptions?external_id=sub-ext-1", supportKey, nil), sub)
	subBody["customer_id"] = other
	dup = h.do("POST", "/v1/subscriptions", backendKey, subBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != sub {
		t.Fatalf("409 does not name %s: %s", sub, dup.Body)
	}

	invBody := map[string]any{"customer_id": cust, "external_id": "inv-ext-1", "payment_method": "bank_transfer",
		"lines": []map[string]any{{"description": "Setup", "amount": "10.00"}}}
	r = h.do("POST", "/v1/invoices", backendKey, invBody)
	mustStatus(t, r, 201)
	inv := r.JSON(t)["id"].(string)
	oneID(t, h.do("GET", "/v1/invoices?external_id=inv-ext-1", supportKey, nil), inv)
	invBody["customer_id"] = other
	dup = h.do("POST", "/v1/invoices", backendKey, invBody)
	mustStatus(t, dup, http.StatusConflict)
	if existingID(t, dup) != inv {
		t.Fatalf("409 does not name %s: %s", inv, dup.Body)
	}

	// The customer's wallet: shown on the customer, found by customer_id, named by the 409.
	h.wallet(other, nil)
	w := h.wallet(cust, nil)["id"].(string)
	g := h.do("GET", "/v1/customers/"+cust, supportKey, nil)
	mustStatus(t, g, 200)
	if g.JSON(t)["wallet_id"] != w {
		t.Fatalf("customer shows wallet_id %v, want %s", g.JSON(t)["wallet_id"], w)
	}
	l := h.do("GET", "/v1/customers?external_id=crm-7", supportKey, nil)
	if d := l.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["wallet_id"] != w {
		t.Fatalf("listed customer lacks wallet_id %s: %s", w, l.Body)
	}
	oneID(t, h.do("GET", "/v1/wallets?customer_id="+cust, supportKey, nil), w)
	if got := listIDs(t, h.do("GET", "/v1/wallets", supportKey, nil)); len(got) != 2 {
		t.Fatalf("all wallets: %v", got)
	}
	if got := listIDs(t, h.do("GET", "/v1/wallets?customer_id=cus_nobody", supportKey, nil)); len(got) != 0 {
		t.Fatalf("a customer without a wallet lists %v", got)
	}
	mustStatus(t, h.do("GET", "/v1/wallets?customer=x", supportKey, nil), 400)
	dup = h.do("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust})
	mustStatus(t, dup, http.StatusConflict)
	if dup.ErrorCode(t) != "wallet_exists" || existingID(t, dup) != w {
		t.Fatalf("409 does not name wallet %s: %s", w, dup.Body)
	}
}

// TestUpdateCustomer: name, email and language change (validated, nothing written on a
// 400), support may not, and an Idempotency-Key replays the first answer.
func TestUpdateCustomer(t *testing.T) {
	h := &walletHarness{harness: newHarness(t)}
	cust := h.customer("EUR")
	r := h.do("PATCH", "/v1/customers/"+cust, backendKey, map[string]any{"name": "Ada King", "email": "ada.king@example.com", "language": "fr-FR"}, "Idempotency-Key", "upd-1")
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["name"] != "Ada King" || m["email"] != "ada.king@example.com" || m["language"] != "fr-FR" || m["currency"] != "EUR" {
		t.Fatalf("updated customer %s", r.Body)
	}
	r = h.do("PATCH", "/v1/customers/"+cust, backendKey, map[string]any{"language": "de"})
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["name"] != "Ada King" || m["language"] != "de" {
		t.Fatalf("a partial update changed other fields: %s", r.Body)
	}
	replay := h.do("PATCH", "/v1/customers/"+cust, backendKey, map[string]any{"name": "Ada King", "email": "ada.king@example.com", "language": "fr-FR"}, "Idempotency-Key", "upd-1")
	mustStatus(t, replay, 200)
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same key was run again: %v", replay.Header)
	}
	reused := h.do("PATCH", "/v1/customers/"+cust, backendKey, map[string]any{"name": "Other"}, "Idempotency-Key", "upd-1")
	mustStatus(t, reused, 409)
	for _, c := range []struct {
		body  any
		param string
	}{
		{map[string]any{"email": "nope"}, "email"},
		{map[string]any{"name": "  "}, "name"},
		{map[string]any{"language": "German"}, "language"},
		{map[string]any{"currency": "USD"}, "currency"},
		{map[string]any{}, ""},
	} {
		r := h.do("PATCH", "/v1/customers/"+cust, backendKey, c.body)
		mustStatus(t, r, 400)
		if p, _ := r.JSON(t)["error"].(map[string]any)["param"].(string); p != c.param {
			t.Fatalf("param %q, want %q: %s", p, c.param, r.Body)
		}
	}
	mustStatus(t, h.do("PATCH", "/v1/customers/"+cust, supportKey, map[string]any{"name": "X"}), 403)
	mustStatus(t, h.do("PATCH", "/v1/customers/cus_nope", backendKey, map[string]any{"name": "X"}), 404)
	g := h.do("GET", "/v1/customers/"+cust, supportKey, nil).JSON(t)
	if g["name"] != "Ada King" || g["email"] != "ada.king@example.com" || g["language"] != "de" {
		t.Fatalf("refused updates wrote: %v", g)
	}
}

// TestPaymentMethodDefaultAndDetach: the default moves to another active method; a
// detached default is no longer charged: an open invoice's manual retry and a new invoice
// both wait for a method, and a new card charges them.
func TestPaymentMethodDefaultAndDetach(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	declining := h.method(cust, "pm_card_chargeDeclined")
	r := h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, map[string]any{"type": "card", "provider_id": "pm_card_visa",
		"exp_month": 12, "exp_year": time.Now().Year() + 1, "default": false})
	mustStatus(t, r, 201)
	visa := r.JSON(t)["id"].(string)

	// Set default: visa becomes the default, the other is demoted.
	r = h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+visa+"/default", backendKey, nil)
	mustStatus(t, r, 200)
	if r.JSON(t)["default"] != true {
		t.Fatalf("set default: %s", r.Body)
	}
	defaults := func() []string {
		var out []string
		for _, d := range h.do("GET", "/v1/customers/"+cust+"/payment-methods", supportKey, nil).JSON(t)["data"].([]any) {
			if m := d.(map[string]any); m["default"] == true {
				out = append(out, m["id"].(string))
			}
		}
		return out
	}
	if d := defaults(); len(d) != 1 || d[0] != visa {
		t.Fatalf("defaults %v, want only %s", d, visa)
	}
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+declining+"/default", supportKey, nil), 403)
	other := h.customer("EUR")
	mustStatus(t, h.do("POST", "/v1/customers/"+other+"/payment-methods/"+visa+"/default", backendKey, nil), 404)
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+declining+"/default", backendKey, nil), 200)

	// An invoice fails on the declining default; it is then detached.
	id := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(id, "a failed first attempt", failedAttempts(1))
	r = h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+declining+"/detach", backendKey, nil)
	mustStatus(t, r, 200)
	if m := r.JSON(t); m["status"] != "detached" || m["default"] != false {
		t.Fatalf("detached: %s", r.Body)
	}
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+declining+"/detach", backendKey, nil), 200)
	if r := h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+declining+"/default", backendKey, nil); r.Status != 409 || r.ErrorCode(t) != "payment_method_not_active" {
		t.Fatalf("a detached method became the default: %s", r.Body)
	}
	// Visa is detached too: no card is left.
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods/"+visa+"/detach", backendKey, nil), 200)

	// A manual retry charges nothing: the invoice waits for a card.
	rr := h.do("POST", "/v1/invoices/"+id+"/retry", supportKey, nil)
	if rr.Status >= 500 {
		t.Fatalf("retry: %s", rr.Body)
	}
	waitPayment(t, h, id, contracts.PaymentAwaitingAction)
	if tx := txns(h.do("GET", "/v1/invoices/"+id, supportKey, nil).JSON(t)); len(tx) != 1 {
		t.Fatalf("the detached card was charged again: %v", tx)
	}
	// A new invoice waits as well.
	id2 := h.invoice(cust, map[string]any{"payment_method": "card"})["id"].(string)
	waitPayment(t, h, id2, contracts.PaymentAwaitingAction)
	if tx := txns(h.do("GET", "/v1/invoices/"+id2, supportKey, nil).JSON(t)); len(tx) != 0 {
		t.Fatalf("a detached card was charged: %v", tx)
	}
	// A new card charges both.
	fresh := h.method(cust, "pm_card_mastercard")
	for _, inv := range []string{id, id2} {
		paid := h.waitInvoice(inv, "paid with the new card", func(m map[string]any) bool { return m["status"] == "paid" })
		tx := txns(paid)
		if last := tx[len(tx)-1]; last["payment_method_id"] != fresh {
			t.Fatalf("paid with %v, want %s", last["payment_method_id"], fresh)
		}
	}
}

// waitPayment polls the invoice's payment state (at most 30 s) until it is want.
func waitPayment(t *testing.T, h *invoiceHarness, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := h.do("GET", "/v1/invoices/"+id+"/payment", supportKey, nil).JSON(t)
		if st["payment_status"] == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment state %v, want %s", st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSupportListFilters: subscriptions by status (errored), invoices by status and date,
// the events of the outbox by type and object, a subscription's usage; unknown filter
// values are a 400.
func TestSupportListFilters(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclinedFraudulent")
	now := time.Now().UTC()
	newSub := func() string {
		r := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "30.00",
			"current_period_start": now.Add(-time.Hour).Format(time.RFC3339), "current_period_end": now.Add(30 * 24 * time.Hour).Format(time.RFC3339)})
		mustStatus(t, r, 201)
		return r.JSON(t)["id"].(string)
	}
	bad, good := newSub(), newSub()
	id := h.invoice(cust, map[string]any{"subscription_id": bad})["id"].(string)
	h.waitInvoice(id, "error", func(m map[string]any) bool { return m["status"] == "error" })
	other := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})["id"].(string)

	oneID(t, h.do("GET", "/v1/subscriptions?status=errored", supportKey, nil), bad)
	oneID(t, h.do("GET", "/v1/subscriptions?status=active&customer_id="+cust, supportKey, nil), good)
	mustStatus(t, h.do("GET", "/v1/subscriptions?status=broken", supportKey, nil), 400)

	oneID(t, h.do("GET", "/v1/invoices?status=error", supportKey, nil), id)
	from, to := now.Add(-time.Minute).Format(time.RFC3339), time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	if got := listIDs(t, h.do("GET", "/v1/invoices?created_from="+from+"&created_to="+to, supportKey, nil)); len(got) != 2 {
		t.Fatalf("invoices in range: %v", got)
	}
	oneID(t, h.do("GET", "/v1/invoices?status=to_pay&created_from="+from, supportKey, nil), other)
	if got := listIDs(t, h.do("GET", "/v1/invoices?created_from="+to, supportKey, nil)); len(got) != 0 {
		t.Fatalf("invoices after the range: %v", got)
	}
	if got := listIDs(t, h.do("GET", "/v1/invoices?created_to="+from, supportKey, nil)); len(got) != 0 {
		t.Fatalf("invoices before the range: %v", got)
	}
	for _, q := range []string{"created_from=yesterday", "created_to=" + to + "&created_from=" + to, "created_from=1999-01-01T00:00:00Z", "status=late"} {
		mustStatus(t, h.do("GET", "/v1/invoices?"+q, supportKey, nil), 400)
	}

	// The outbox: public events only, newest first, by type and by object.
	r := h.do("GET", "/v1/events?object_id="+id, supportKey, nil)
	mustStatus(t, r, 200)
	var types []string
	for _, d := range r.JSON(t)["data"].([]any) {
		ev := d.(map[string]any)
		if ev["object_id"] != id || ev["object_type"] != "invoice" || ev["customer_id"] != cust || ev["data"].(map[string]any)["id"] != id {
			t.Fatalf("event %v", ev)
		}
		types = append(types, ev["type"].(string))
	}
	if len(types) != 2 || types[0] != "invoice.errored" || types[1] != "invoice.transaction_failed" {
		t.Fatalf("invoice events %v, want invoice.errored then invoice.transaction_failed", types)
	}
	oneEv := h.do("GET", "/v1/events?type=subscription.errored", supportKey, nil)
	if d := oneEv.JSON(t)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["object_id"] != bad {
		t.Fatalf("subscription.errored events %s", oneEv.Body)
	}
	all := listIDs(t, h.do("GET", "/v1/events?customer_id="+cust+"&limit=100", supportKey, nil))
	var internal int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE type LIKE 'email.%'`).Scan(&internal); err != nil {
		t.Fatal(err)
	}
	if internal == 0 || len(all) != h.count("events")-internal {
		t.Fatalf("%d events listed, %d in the outbox of which %d internal", len(all), h.count("events"), internal)
	}
	page := h.do("GET", "/v1/events?limit=1", supportKey, nil).JSON(t)
	if page["next_cursor"] == nil || len(page["data"].([]any)) != 1 {
		t.Fatalf("events page %v", page)
	}
	mustStatus(t, h.do("GET", "/v1/events?type=email.payment_failed", supportKey, nil), 400)
	mustStatus(t, h.do("GET", "/v1/events?object=inv", supportKey, nil), 400)

	// Usage of a subscription, newest first, paginated.
	for i, amt := range []string{"1.00", "2.00", "3.00"} {
		mustStatus(t, h.do("POST", "/v1/subscriptions/"+good+"/usage", backendKey, map[string]any{"amount": amt,
			"description": "calls", "occurred_at": now.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)}), 201)
	}
	u := h.do("GET", "/v1/subscriptions/"+good+"/usage?limit=2", supportKey, nil)
	mustStatus(t, u, 200)
	um := u.JSON(t)
	d := um["data"].([]any)
	if len(d) != 2 || d[0].(map[string]any)["amount"] != "3.00" || d[1].(map[string]any)["amount"] != "2.00" || um["next_cursor"] == nil {
		t.Fatalf("usage page 1 %s", u.Body)
	}
	u2 := h.do("GET", "/v1/subscriptions/"+good+"/usage?limit=2&cursor="+um["next_cursor"].(string), supportKey, nil).JSON(t)
	if d := u2["data"].([]any); len(d) != 1 || d[0].(map[string]any)["amount"] != "1.00" || u2["next_cursor"] != nil {
		t.Fatalf("usage page 2 %v", u2)
	}
	if got := listIDs(t, h.do("GET", "/v1/subscriptions/"+bad+"/usage", supportKey, nil)); len(got) != 0 {
		t.Fatalf("another subscription's usage: %v", got)
	}
	mustStatus(t, h.do("GET", "/v1/subscriptions/sub_nope/usage", supportKey, nil), 404)
}

// TestTimesDefaultToNow: usage without occurred_at happened now; a reconciliation without
// paid_at was paid now.
func TestTimesDefaultToNow(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	before := time.Now().UTC().Add(-time.Second)
	r := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "30.00",
		"current_period_start": before.Add(-time.Hour).Format(time.RFC3339), "current_period_end": before.Add(24 * time.Hour).Format(time.RFC3339)})
	mustStatus(t, r, 201)
	sub := r.JSON(t)["id"].(string)
	u := h.do("POST", "/v1/subscriptions/"+sub+"/usage", backendKey, map[string]any{"amount": "1.00", "description": "calls"})
	mustStatus(t, u, 201)
	within := func(what, s string) {
		t.Helper()
		at, err := time.Parse(time.RFC3339, s)
		if err != nil || at.Before(before) || at.After(time.Now().UTC().Add(time.Second)) {
			t.Fatalf("%s %q is not now", what, s)
		}
	}
	within("occurred_at", u.JSON(t)["occurred_at"].(string))

	id := h.invoice(cust, map[string]any{"payment_method": "bank_transfer"})["id"].(string)
	rec := h.do("POST", "/v1/invoices/"+id+"/reconcile", supportKey, map[string]any{"amount": "30.00", "reference": "TRX-NOW"})
	mustStatus(t, rec, 200)
	paid := h.waitInvoice(id, "paid", func(m map[string]any) bool { return m["status"] == "paid" })
	tx := txns(paid)
	if len(tx) != 1 || tx[0]["paid_at"] == nil {
		t.Fatalf("reconciliation %v", tx)
	}
	within("paid_at", tx[0]["paid_at"].(string))
}

// TestFailedLoadStatusReplayed: a declined paid load is a 402 payment_failed with the load,
// and so is the same request sent again with its Idempotency-Key (one load, one charge).
func TestFailedLoadStatusReplayed(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMDecline)
	body := map[string]any{"amount": "20.00", "type": "paid"}
	a := h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, body, "Idempotency-Key", "load-declined")
	b := h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, body, "Idempotency-Key", "load-declined")
	for _, r := range []response{a, b} {
		mustStatus(t, r, http.StatusPaymentRequired)
		if r.ErrorCode(t) != "payment_failed" {
			t.Fatalf("402 body %s", r.Body)
		}
	}
	la, lb := a.JSON(t)["load"].(map[string]any), b.JSON(t)["load"].(map[string]any)
	if la["id"] != lb["id"] || la["status"] != "failed" || h.count("wallet_loads") != 1 || h.provider.Charges() != 1 {
		t.Fatalf("a replay made another load or charge: %s / %s", a.Body, b.Body)
	}
}

// TestRenewalMovesThePeriod: the invoice of a subscription's next period makes it the
// current period, so the projected balance no longer counts the old period's fee on top
// of the new invoice; an invoice for an earlier period does not move it back.
func TestRenewalMovesThePeriod(t *testing.T) {
	h := &walletHarness{harness: newHarness(t)}
	cust := h.customer("EUR")
	wallet := h.wallet(cust, map[string]any{"auto_debit": false})["id"].(string)
	mustStatus(t, h.load(wallet, map[string]any{"amount": "100.00", "type": "free"}), 201)
	r := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": "30.00",
		"current_period_start": "2026-11-01T00:00:00Z", "current_period_end": "2026-12-01T00:00:00Z"})
	mustStatus(t, r, 201)
	sub := r.JSON(t)["id"].(string)
	if w := h.getWallet(wallet); w["projected_balance"] != "70.00" {
		t.Fatalf("projected %v, want 100 − the November fee = 70.00", w["projected_balance"])
	}
	invoice := func(start, end string) {
		t.Helper()
		mustStatus(t, h.do("POST", "/v1/invoices", backendKey, map[string]any{"customer_id": cust, "subscription_id": sub,
			"payment_method": "bank_transfer", "period_start": start, "period_end": end,
			"lines": []map[string]any{{"description": "Plan", "amount": "30.00"}}}), 201)
	}
	period := func() (string, string) {
		s := h.do("GET", "/v1/subscriptions/"+sub, supportKey, nil).JSON(t)
		return s["current_period_start"].(string), s["current_period_end"].(string)
	}
	invoice("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
	if s, e := period(); s != "2026-12-01T00:00:00Z" || e != "2027-01-01T00:00:00Z" {
		t.Fatalf("current period %s – %s, want December", s, e)
	}
	if w := h.getWallet(wallet); w["projected_balance"] != "70.00" {
		t.Fatalf("projected %v, want 100 − the December invoice = 70.00 (no November fee on top)", w["projected_balance"])
	}
	// A late invoice for November leaves December current.
	invoice("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
	if s, _ := period(); s != "2026-12-01T00:00:00Z" {
		t.Fatalf("an earlier period's invoice moved the period to %s", s)
	}
	if w := h.getWallet(wallet); w["projected_balance"] != "40.00" {
		t.Fatalf("projected %v, want 100 − two invoices = 40.00", w["projected_balance"])
	}
}

// TestWalletLoadSearchAttributes: a paid load's workflow carries CustomerId and WalletId
// from its start and PaymentStatus set to the load's outcome, so an operator finds a
// customer's top-ups in the Web UI.
func TestWalletLoadSearchAttributes(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet(ledgertest.PMSettle)
	r := h.load(wallet, map[string]any{"amount": "15.00", "type": "paid"})
	mustStatus(t, r, 201)
	d, err := env.Temporal.DescribeWorkflowExecution(t.Context(), contracts.WalletLoadWorkflowID(r.JSON(t)["id"].(string)), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, p := range d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields() {
		var s string
		if converter.GetDefaultDataConverter().FromPayload(p, &s) == nil {
			got[name] = s
		}
	}
	if got["CustomerId"] != cust || got["WalletId"] != wallet || got["PaymentStatus"] != "settled" {
		t.Fatalf("search attributes %v, want CustomerId %s, WalletId %s, PaymentStatus settled", got, cust, wallet)
	}
}

// TestManualRetriesEmailOncePerCause: support retries an invoice whose card keeps failing
// the same way; the customer gets one payment-failed email for that failure, and a new
// email once the cause changes (a new card that fails too).
func TestManualRetriesEmailOncePerCause(t *testing.T) {
	h := newInvoiceHarness(t)
	cust := h.customer("EUR")
	h.method(cust, "pm_card_chargeDeclined")
	id := h.invoice(cust, nil)["id"].(string)
	h.waitInvoice(id, "a failed first attempt", failedAttempts(1))
	m, err := mail.New(h.pool, h.srv.log, mail.DirSender{Dir: t.TempDir()}, "Acme <billing@acme.test>", "https://portal.acme.test/")
	if err != nil {
		t.Fatal(err)
	}
	send := func() mail.Stats {
		t.Helper()
		st, err := m.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := send(); st.Sent != 1 {
		t.Fatalf("first failure: %+v, want one email", st)
	}
	for range 2 {
		mustStatus(t, h.do("POST", "/v1/invoices/"+id+"/retry", supportKey, nil), 200)
		if st := send(); st.Sent != 0 || st.Skipped != 1 {
			t.Fatalf("a manual retry failing the same way: %+v, want no email", st)
		}
	}
	// A new card that is declined as well: news to the customer.
	h.method(cust, "pm_card_chargeDeclinedInsufficientFunds")
	// The fourth failure ends the schedule (the invoice errors: no next retry), so wait on
	// the transactions alone.
	h.waitInvoice(id, "the new card's failure", func(inv map[string]any) bool {
		failed := 0
		for _, t := range txns(inv) {
			if t["status"] == "failed" {
				failed++
			}
		}
		return failed == 4
	})
	if st := send(); st.Sent != 1 {
		t.Fatalf("a new card failing: %+v, want one email", st)
	}
}
