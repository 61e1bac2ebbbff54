package api

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"payorch/activities"
	"payorch/contracts"
	"payorch/ids"
	"payorch/internal/testenv/poll"
	"payorch/ledger/ledgertest"
	"payorch/workflows"
)

// walletHarness is the API harness plus a worker on its own task queue hosting WalletLoad
// with the real activities and a fake provider (the PSP boundary). Every test ends with
// the ledger invariant check.
type walletHarness struct {
	*harness
	provider *ledgertest.FakeProvider
}

func newWalletHarness(t *testing.T) *walletHarness {
	t.Helper()
	h := newHarness(t)
	queue := "test-wallets-" + ids.New("q")
	fake := ledgertest.NewFakeProvider()
	w := worker.New(env.Temporal, queue, worker.Options{})
	w.RegisterWorkflow(workflows.WalletLoad)
	w.RegisterWorkflowWithOptions(workflows.WalletAutoTopUp, workflow.RegisterOptions{Name: contracts.WalletAutoTopUpWorkflow})
	w.RegisterActivity(&activities.Activities{Pool: h.pool, Provider: fake})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	h.srv = New(Deps{Pool: h.pool, Temporal: env.Temporal, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: queue})
	t.Cleanup(func() { ledgertest.AssertBalanced(t, h.pool) })
	return &walletHarness{harness: h, provider: fake}
}

func (h *walletHarness) customer(currency string) string {
	h.t.Helper()
	r := h.do("POST", "/v1/customers", backendKey, map[string]any{"name": "Ada", "email": "ada@example.com", "currency": currency})
	mustStatus(h.t, r, 201)
	return r.JSON(h.t)["id"].(string)
}

func (h *walletHarness) method(customerID, providerID string) string {
	h.t.Helper()
	body := map[string]any{"type": "card", "provider_id": providerID, "exp_month": 12, "exp_year": time.Now().Year() + 1, "default": true}
	if providerID == ledgertest.PMPending {
		body = map[string]any{"type": "direct_debit", "provider_id": providerID, "default": true}
	}
	r := h.do("POST", "/v1/customers/"+customerID+"/payment-methods", backendKey, body)
	mustStatus(h.t, r, 201)
	return r.JSON(h.t)["id"].(string)
}

func (h *walletHarness) wallet(customerID string, settings map[string]any) map[string]any {
	h.t.Helper()
	body := map[string]any{"customer_id": customerID}
	if settings != nil {
		body["settings"] = settings
	}
	r := h.do("POST", "/v1/wallets", backendKey, body)
	mustStatus(h.t, r, 201)
	return r.JSON(h.t)
}

// newWallet is a EUR customer with a wallet (defaults) and, when pm is set, a default method.
func (h *walletHarness) newWallet(pm string) (customerID, walletID string) {
	h.t.Helper()
	customerID = h.customer("EUR")
	if pm != "" {
		h.method(customerID, pm)
	}
	return customerID, h.wallet(customerID, nil)["id"].(string)
}

func (h *walletHarness) load(walletID string, body any, key ...string) response {
	h.t.Helper()
	k := backendKey
	if len(key) > 0 {
		k = key[0]
	}
	return h.do("POST", "/v1/wallets/"+walletID+"/load", k, body)
}

func (h *walletHarness) getWallet(walletID string) map[string]any {
	h.t.Helper()
	r := h.do("GET", "/v1/wallets/"+walletID, supportKey, nil)
	mustStatus(h.t, r, 200)
	return r.JSON(h.t)
}

// written counts the rows every wallet operation may write.
func (h *walletHarness) written() string {
	h.t.Helper()
	out := ""
	for _, table := range []string{"wallets", "wallet_loads", "wallet_transactions", "credit_notes", "receipts", "invoices", "invoice_transactions", "events"} {
		out += fmt.Sprintf("%s=%d ", table, h.count(table))
	}
	return out
}

// refused sends a request that must be refused with status and code, writing nothing.
func (h *walletHarness) refused(method, path, key string, body any, status int, code string) {
	h.t.Helper()
	before := h.written()
	r := h.do(method, path, key, body)
	mustStatus(h.t, r, status)
	if got := r.ErrorCode(h.t); got != code {
		h.t.Fatalf("%s %s: code %q, want %q (%s)", method, path, got, code, r.Body)
	}
	if after := h.written(); after != before {
		h.t.Fatalf("%s %s (%s) wrote rows:\nbefore %s\nafter  %s", method, path, code, before, after)
	}
}

func TestWalletCreateGetUpdate(t *testing.T) {
	h := newWalletHarness(t)
	cust := h.customer("JPY")
	w := h.wallet(cust, map[string]any{"portal_top_up": true})
	id := w["id"].(string)
	if !ids.HasPrefix(id, ids.Wallet) || w["object"] != "wallet" || w["customer_id"] != cust || w["currency"] != "JPY" ||
		w["balance"] != "0" || w["projected_balance"] != "0" {
		t.Fatalf("wallet %v", w)
	}
	s := w["settings"].(map[string]any)
	if s["auto_debit"] != true || s["portal_top_up"] != true {
		t.Fatalf("settings %v (auto_debit defaults to on)", s)
	}
	g := h.getWallet(id)
	if g["id"] != id || g["currency"] != "JPY" {
		t.Fatalf("GET %v", g)
	}
	p := h.do("PATCH", "/v1/wallets/"+id, backendKey, map[string]any{"settings": map[string]any{"auto_debit": false}})
	mustStatus(t, p, 200)
	if s := p.JSON(t)["settings"].(map[string]any); s["auto_debit"] != false || s["portal_top_up"] != true {
		t.Fatalf("PATCH kept the other setting? %v", s)
	}
	eur := h.customer("EUR")
	if s := h.wallet(eur, nil)["settings"].(map[string]any); s["auto_debit"] != true || s["portal_top_up"] != false {
		t.Fatalf("defaults %v", s)
	}

	h.refused("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust}, 409, "wallet_exists")
	h.refused("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": "cus_missing"}, 404, "resource_missing")
	h.refused("POST", "/v1/wallets", backendKey, map[string]any{}, 400, "parameter_missing")
	h.refused("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust, "settings": map[string]any{"auto_debit": "yes"}}, 400, "parameter_invalid_type")
	h.refused("POST", "/v1/wallets", backendKey, map[string]any{"customer_id": cust, "balance": "100"}, 400, "parameter_unknown")
	h.refused("POST", "/v1/wallets", supportKey, map[string]any{"customer_id": cust}, 403, "role_not_allowed")
	h.refused("POST", "/v1/wallets", "", map[string]any{"customer_id": cust}, 401, "missing_api_key")
	h.refused("PATCH", "/v1/wallets/"+id, backendKey, map[string]any{}, 400, "parameter_missing")
	h.refused("PATCH", "/v1/wallets/"+id, backendKey, map[string]any{"settings": map[string]any{}}, 400, "parameter_missing")
	h.refused("PATCH", "/v1/wallets/"+id, supportKey, map[string]any{"settings": map[string]any{"auto_debit": true}}, 403, "role_not_allowed")
	h.refused("PATCH", "/v1/wallets/wal_missing", backendKey, map[string]any{"settings": map[string]any{"auto_debit": true}}, 404, "resource_missing")
	h.refused("GET", "/v1/wallets/wal_missing", backendKey, nil, 404, "resource_missing")
}

func TestFreeLoad(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet("") // a free load needs no payment method
	r := h.load(wallet, map[string]any{"amount": "25.50", "type": "free"})
	mustStatus(t, r, 201)
	ld := r.JSON(t)
	if !ids.HasPrefix(ld["id"].(string), ids.Load) || ld["status"] != "settled" || ld["amount"] != "25.50" || ld["type"] != "free" ||
		ld["source"] != "api" || ld["error_type"] != nil || ld["invoice_id"] != nil {
		t.Fatalf("load %v", ld)
	}
	txID := ld["wallet_transaction_id"].(string)
	cn := ld["credit_note"].(map[string]any)
	if cn["number"] != docNumber("CN", 1) || cn["amount"] != "25.50" || cn["status"] != "issued" {
		t.Fatalf("credit note %v", cn)
	}
	op := h.load(wallet, map[string]any{"amount": "4.50", "type": "free", "source": "operator"})
	mustStatus(t, op, 201)
	if op.JSON(t)["source"] != "operator" || op.JSON(t)["credit_note"].(map[string]any)["number"] != docNumber("CN", 2) {
		t.Fatalf("operator load %s", op.Body)
	}
	w := h.getWallet(wallet)
	if w["balance"] != "30.00" || w["projected_balance"] != "30.00" {
		t.Fatalf("wallet %v", w)
	}
	txs := h.do("GET", "/v1/wallets/"+wallet+"/transactions", supportKey, nil).JSON(t)["data"].([]any)
	first := txs[1].(map[string]any)
	if len(txs) != 2 || first["id"] != txID || first["type"] != "credit_free" || first["amount"] != "25.50" || first["source"] != "api" ||
		first["balance_after"] != "25.50" || first["load_id"] != ld["id"] || first["reverted_by"] != nil {
		t.Fatalf("transactions %v", txs)
	}
	if n := h.count("events WHERE type = 'wallet.credited' AND customer_id = '" + cust + "'"); n != 2 {
		t.Fatalf("%d wallet.credited events", n)
	}
	g := h.do("GET", "/v1/wallets/"+wallet+"/loads/"+ld["id"].(string), supportKey, nil)
	mustStatus(t, g, 200)
	if g.JSON(t)["credit_note"].(map[string]any)["number"] != docNumber("CN", 1) {
		t.Fatalf("GET load %s", g.Body)
	}
	other := h.wallet(h.customer("EUR"), nil)["id"].(string)
	h.refused("GET", "/v1/wallets/"+other+"/loads/"+ld["id"].(string), backendKey, nil, 404, "resource_missing")
}

// TestLoadRefusals: every refusal of POST /v1/wallets/{id}/load, each writing nothing.
func TestLoadRefusals(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet("")
	path := "/v1/wallets/" + wallet + "/load"
	cases := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
	}{
		{"no amount", backendKey, map[string]any{"type": "free"}, 400, "parameter_missing"},
		{"too many decimals", backendKey, map[string]any{"amount": "1.005", "type": "free"}, 400, "amount_invalid"},
		{"zero", backendKey, map[string]any{"amount": "0.00", "type": "free"}, 400, "amount_invalid"},
		{"negative", backendKey, map[string]any{"amount": "-5", "type": "free"}, 400, "amount_invalid"},
		{"number", backendKey, map[string]any{"amount": 5, "type": "free"}, 400, "parameter_invalid_type"},
		{"huge", backendKey, map[string]any{"amount": "999999999999999", "type": "free"}, 400, "amount_too_large"},
		{"no type", backendKey, map[string]any{"amount": "5"}, 400, "parameter_missing"},
		{"bad type", backendKey, map[string]any{"amount": "5", "type": "gift"}, 400, "parameter_invalid"},
		{"portal source", backendKey, map[string]any{"amount": "5", "type": "paid", "source": "portal"}, 400, "parameter_invalid"},
		{"support key", supportKey, map[string]any{"amount": "5", "type": "free"}, 403, "role_not_allowed"},
		{"paid without method", backendKey, map[string]any{"amount": "5", "type": "paid"}, 422, "no_automated_payment_method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.refused("POST", path, c.key, c.body, c.status, c.code) })
	}
	h.refused("POST", "/v1/wallets/wal_missing/load", backendKey, map[string]any{"amount": "5", "type": "free"}, 404, "resource_missing")

	// A bank transfer is not automated; an expired card is not active.
	mustStatus(t, h.do("POST", "/v1/customers/"+cust+"/payment-methods", backendKey, map[string]any{"type": "bank_transfer", "default": true}), 201)
	h.refused("POST", path, backendKey, map[string]any{"amount": "5", "type": "paid"}, 422, "no_automated_payment_method")
	card := h.method(cust, ledgertest.PMSettle)
	if _, err := h.pool.Exec(context.Background(), "UPDATE payment_methods SET exp_year = 2020 WHERE id = $1", card); err != nil {
		t.Fatal(err)
	}
	h.refused("POST", path, backendKey, map[string]any{"amount": "5", "type": "paid"}, 422, "no_automated_payment_method")
	if _, err := h.pool.Exec(context.Background(), "UPDATE payment_methods SET exp_year = $2, status = 'errored' WHERE id = $1", card, time.Now().Year()+1); err != nil {
		t.Fatal(err)
	}
	h.refused("POST", path, backendKey, map[string]any{"amount": "5", "type": "paid"}, 422, "no_automated_payment_method")
	if h.provider.Charges() != 0 {
		t.Fatal("a refused load reached the provider")
	}
}

func TestPaidLoadSettled(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet(ledgertest.PMSettle)
	r := h.load(wallet, map[string]any{"amount": "50.00", "type": "paid"})
	mustStatus(t, r, 201)
	ld := r.JSON(t)
	if ld["status"] != "settled" || ld["amount"] != "50.00" || ld["error_type"] != nil || ld["wallet_transaction_id"] == nil || ld["invoice_id"] == nil {
		t.Fatalf("load %v", ld)
	}
	rc := ld["receipt"].(map[string]any)
	if rc["amount"] != "50.00" || rc["invoice_id"] != ld["invoice_id"] || rc["payment_method"] != "card" {
		t.Fatalf("receipt %v", rc)
	}
	if w := h.getWallet(wallet); w["balance"] != "50.00" {
		t.Fatalf("wallet %v", w)
	}
	key := ld["id"].(string) + ":charge"
	if h.provider.Calls(key) != 1 || h.provider.Charges() != 1 {
		t.Fatalf("provider saw %d calls for %s", h.provider.Calls(key), key)
	}
	inv := ld["invoice_id"].(string)
	for _, q := range []string{
		"invoices WHERE id = '" + inv + "' AND kind = 'wallet_load' AND status = 'paid' AND amount_paid = 50 AND customer_id = '" + cust + "'",
		"invoice_transactions WHERE invoice_id = '" + inv + "' AND status = 'settled' AND method = 'card' AND idempotency_key = '" + key + "'",
		"events WHERE type = 'wallet.credited'",
		"events WHERE type = 'email.load_receipt'",
		"receipts",
	} {
		if n := h.count(q); n != 1 {
			t.Fatalf("%d rows of %s", n, q)
		}
	}
	tx := h.do("GET", "/v1/wallets/"+wallet+"/transactions", backendKey, nil).JSON(t)["data"].([]any)[0].(map[string]any)
	if tx["type"] != "credit_paid" || tx["invoice_id"] != inv || tx["source"] != "api" {
		t.Fatalf("transaction %v", tx)
	}
	// An operator load has no limit.
	op := h.load(wallet, map[string]any{"amount": "5000.00", "type": "paid", "source": "operator"})
	mustStatus(t, op, 201)
	if op.JSON(t)["status"] != "settled" || h.getWallet(wallet)["balance"] != "5050.00" {
		t.Fatalf("operator load %s", op.Body)
	}
}

func TestPaidLoadDeclined(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMDecline)
	r := h.load(wallet, map[string]any{"amount": "20.00", "type": "paid"})
	mustStatus(t, r, 402)
	if r.ErrorCode(t) != "payment_failed" || r.JSON(t)["error"].(map[string]any)["type"] != "payment_error" {
		t.Fatalf("402 body %s", r.Body)
	}
	ld := r.JSON(t)["load"].(map[string]any)
	if ld["status"] != "failed" || ld["error_type"] != "payment_method_declined" || ld["wallet_transaction_id"] != nil || ld["decline_code"] != "insufficient_funds" {
		t.Fatalf("load %v", ld)
	}
	if w := h.getWallet(wallet); w["balance"] != "0.00" {
		t.Fatalf("declined load credited: %v", w)
	}
	if h.count("wallet_transactions") != 0 || h.count("events WHERE type LIKE 'wallet.%'") != 0 || h.count("receipts") != 0 {
		t.Fatal("a declined load wrote ledger rows or events")
	}
	inv := ld["invoice_id"].(string)
	if h.count("invoices WHERE id = '"+inv+"' AND status = 'voided'") != 1 || h.count("invoice_transactions WHERE invoice_id = '"+inv+"' AND status = 'failed'") != 1 {
		t.Fatal("the failed charge is not recorded on the load's voided invoice")
	}
}

func TestPaidLoadDirectDebitPending(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMPending)
	r := h.load(wallet, map[string]any{"amount": "30.00", "type": "paid"})
	mustStatus(t, r, 202)
	ld := r.JSON(t)
	if ld["status"] != "pending" || ld["wallet_transaction_id"] != nil || ld["invoice_id"] == nil {
		t.Fatalf("load %v", ld)
	}
	if w := h.getWallet(wallet); w["balance"] != "0.00" {
		t.Fatalf("a pending direct debit credited: %v", w)
	}
}

// TestPaidLoadSlowProvider: when the outcome is not known within the wait, the API answers
// 202 with the pending load, which the client polls until it settles.
func TestPaidLoadSlowProvider(t *testing.T) {
	h := newWalletHarness(t)
	h.provider.Gate = make(chan struct{})
	_, wallet := h.newWallet(ledgertest.PMSettle)
	start := time.Now()
	r := h.load(wallet, map[string]any{"amount": "15.00", "type": "paid"})
	mustStatus(t, r, 202)
	if d := time.Since(start); d < loadWait || d > loadWait+3*time.Second {
		t.Fatalf("answered after %s, want about %s", d, loadWait)
	}
	ld := r.JSON(t)
	if ld["status"] != "pending" {
		t.Fatalf("load %v", ld)
	}
	close(h.provider.Gate)
	path := "/v1/wallets/" + wallet + "/loads/" + ld["id"].(string)
	poll.Until(t, 30*time.Second, "the load settled", func() (bool, string) {
		g := h.do("GET", path, supportKey, nil)
		mustStatus(t, g, 200)
		return g.JSON(t)["status"] == "settled", string(g.Body)
	})
	if w := h.getWallet(wallet); w["balance"] != "15.00" {
		t.Fatalf("wallet %v", w)
	}
}

// TestPaidLoadIdempotencyKey: the same request sent twice with one Idempotency-Key makes
// one load and one charge.
func TestPaidLoadIdempotencyKey(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMSettle)
	body := map[string]any{"amount": "12.00", "type": "paid"}
	a := h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, body, "Idempotency-Key", "top-up-1")
	b := h.do("POST", "/v1/wallets/"+wallet+"/load", backendKey, body, "Idempotency-Key", "top-up-1")
	mustStatus(t, a, 201)
	mustStatus(t, b, 201)
	if a.JSON(t)["id"] != b.JSON(t)["id"] || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay gave another load: %s / %s", a.Body, b.Body)
	}
	if h.count("wallet_loads") != 1 || h.provider.Charges() != 1 || h.getWallet(wallet)["balance"] != "12.00" {
		t.Fatal("charged twice")
	}
}

func TestRevert(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet(ledgertest.PMSettle)
	free := h.load(wallet, map[string]any{"amount": "30.00", "type": "free"}).JSON(t)
	paid := h.load(wallet, map[string]any{"amount": "20.00", "type": "paid"}).JSON(t)
	freeTx, paidTx := free["wallet_transaction_id"].(string), paid["wallet_transaction_id"].(string)
	base := "/v1/wallets/" + wallet + "/transactions/"

	// A support key may revert; the free load's credit note is voided.
	r := h.do("POST", base+freeTx+"/revert", supportKey, nil)
	mustStatus(t, r, 201)
	rev := r.JSON(t)
	if rev["type"] != "debit" || rev["source"] != "revert" || rev["amount"] != "30.00" || rev["original_transaction_id"] != freeTx || rev["balance_after"] != "20.00" {
		t.Fatalf("revert %v", rev)
	}
	ld := h.do("GET", "/v1/wallets/"+wallet+"/loads/"+free["id"].(string), backendKey, nil).JSON(t)
	if cn := ld["credit_note"].(map[string]any); cn["status"] != "voided" || cn["voided_at"] == nil {
		t.Fatalf("credit note %v", cn)
	}
	txs := h.do("GET", "/v1/wallets/"+wallet+"/transactions", backendKey, nil).JSON(t)["data"].([]any)
	for _, x := range txs {
		if m := x.(map[string]any); m["id"] == freeTx && m["reverted_by"] != rev["id"] {
			t.Fatalf("original not marked: %v", m)
		}
	}
	if h.count("events WHERE type = 'wallet.transaction_reverted' AND resource_id = '"+freeTx+"' AND customer_id = '"+cust+"'") != 1 {
		t.Fatal("no wallet.transaction_reverted event")
	}

	h.refused("POST", base+freeTx+"/revert", backendKey, nil, 409, "already_reverted")
	h.refused("POST", base+rev["id"].(string)+"/revert", backendKey, nil, 422, "debit_not_revertable")
	// Spend part of the paid credit: the balance no longer covers it.
	inv := ledgertest.Invoice(t, h.pool, cust, "5.00")
	if _, err := h.srv.ledger.DebitForInvoice(context.Background(), inv, 1); err != nil {
		t.Fatal(err)
	}
	h.refused("POST", base+paidTx+"/revert", backendKey, nil, 422, "insufficient_balance")
	h.refused("POST", base+"wtx_missing/revert", backendKey, nil, 404, "resource_missing")
	otherWallet := h.wallet(h.customer("EUR"), nil)["id"].(string)
	h.refused("POST", "/v1/wallets/"+otherWallet+"/transactions/"+paidTx+"/revert", backendKey, nil, 404, "resource_missing")
	h.refused("POST", base+paidTx+"/revert", "", nil, 401, "missing_api_key")

	// Topped up again, the paid credit can be reverted (its money is not refunded here).
	h.load(wallet, map[string]any{"amount": "5.00", "type": "free"})
	mustStatus(t, h.do("POST", base+paidTx+"/revert", backendKey, nil), 201)
	if w := h.getWallet(wallet); w["balance"] != "0.00" {
		t.Fatalf("wallet %v", w)
	}
	if h.count("receipts") != 1 || h.count("invoices WHERE kind = 'wallet_load' AND status = 'paid'") != 1 {
		t.Fatal("reverting a paid load touched its receipt or invoice")
	}
}

// TestConcurrentRevertsHTTP: 20 simultaneous reverts of one credit: exactly one wins.
func TestConcurrentRevertsHTTP(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet("")
	tx := h.load(wallet, map[string]any{"amount": "10.00", "type": "free"}).JSON(t)["wallet_transaction_id"].(string)
	h.load(wallet, map[string]any{"amount": "100.00", "type": "free"})
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = h.do("POST", "/v1/wallets/"+wallet+"/transactions/"+tx+"/revert", backendKey, nil).Status
		}(i)
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case 201:
			won++
		case 409:
		default:
			t.Fatalf("status %d", s)
		}
	}
	if won != 1 || h.count("wallet_transactions WHERE source = 'revert'") != 1 || h.getWallet(wallet)["balance"] != "100.00" {
		t.Fatalf("%d reverts won", won)
	}
}

func TestWalletTransactionsPagination(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet("")
	for i := 1; i <= 5; i++ {
		mustStatus(t, h.load(wallet, map[string]any{"amount": fmt.Sprintf("%d.00", i), "type": "free"}), 201)
	}
	var amounts []string
	cur := ""
	for pages := 0; pages < 10; pages++ {
		path := "/v1/wallets/" + wallet + "/transactions?limit=2"
		if cur != "" {
			path += "&cursor=" + cur
		}
		m := h.do("GET", path, supportKey, nil).JSON(t)
		for _, d := range m["data"].([]any) {
			amounts = append(amounts, d.(map[string]any)["amount"].(string))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			break
		}
		cur = next
	}
	if fmt.Sprint(amounts) != "[5.00 4.00 3.00 2.00 1.00]" {
		t.Fatalf("pages gave %v, want newest first", amounts)
	}
	mustStatus(t, h.do("GET", "/v1/wallets/"+wallet+"/transactions?limit=101", backendKey, nil), 400)
	mustStatus(t, h.do("GET", "/v1/wallets/"+wallet+"/transactions?cursor=!!!", backendKey, nil), 400)
	mustStatus(t, h.do("GET", "/v1/wallets/wal_missing/transactions", backendKey, nil), 404)
	empty := h.do("GET", "/v1/wallets/"+h.wallet(h.customer("EUR"), nil)["id"].(string)+"/transactions", backendKey, nil)
	if string(empty.Body) != `{"data":[],"next_cursor":null}` {
		t.Fatalf("empty list %s", empty.Body)
	}
}

// TestProjectedBalance: balance − unpaid standard invoices − each active subscription's
// fee when its current period is not invoiced yet − its usage in the period not invoiced.
func TestProjectedBalance(t *testing.T) {
	h := newWalletHarness(t)
	cust, wallet := h.newWallet("")
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := h.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	h.load(wallet, map[string]any{"amount": "100.00", "type": "free"})

	ledgertest.Invoice(t, h.pool, cust, "30.00") // to_pay: −30
	errored := ledgertest.Invoice(t, h.pool, cust, "20.00")
	exec("UPDATE invoices SET status = 'error', amount_paid = 5 WHERE id = $1", errored) // −15 (its amount_due)
	paid := ledgertest.Invoice(t, h.pool, cust, "70.00")
	exec("UPDATE invoices SET status = 'paid', amount_paid = total WHERE id = $1", paid)
	voided := ledgertest.Invoice(t, h.pool, cust, "80.00")
	exec("UPDATE invoices SET status = 'voided' WHERE id = $1", voided)
	loadInv := ledgertest.Invoice(t, h.pool, cust, "90.00")
	exec("UPDATE invoices SET kind = 'wallet_load' WHERE id = $1", loadInv)
	ledgertest.Invoice(t, h.pool, h.customer("EUR"), "60.00") // another customer's

	now := time.Now().UTC()
	start, end := now.Add(-10*24*time.Hour).Format(time.RFC3339), now.Add(20*24*time.Hour).Format(time.RFC3339)
	sub := func(amount string) string {
		r := h.do("POST", "/v1/subscriptions", backendKey, map[string]any{"customer_id": cust, "amount": amount, "current_period_start": start, "current_period_end": end})
		mustStatus(t, r, 201)
		return r.JSON(t)["id"].(string)
	}
	usage := func(subID, amount string, at time.Time) string {
		r := h.do("POST", "/v1/subscriptions/"+subID+"/usage", backendKey, map[string]any{"amount": amount, "description": "API calls", "occurred_at": at.Format(time.RFC3339)})
		mustStatus(t, r, 201)
		return r.JSON(t)["id"].(string)
	}
	a := sub("25.00")                                 // not invoiced: −25
	usage(a, "3.50", now.Add(-time.Hour))             // in period: −3.50
	usage(a, "7.00", now.Add(-30*24*time.Hour))       // before the period
	billed := usage(a, "4.00", now.Add(-2*time.Hour)) // in period but invoiced
	usage(a, "6.00", now.Add(25*24*time.Hour))        // after the period
	b := sub("40.00")                                 // its period is invoiced: fee excluded
	exec(`INSERT INTO invoices (id, customer_id, subscription_id, currency, payment_method, total, status, amount_paid, period_start, period_end)
	      SELECT 'inv_b_period', customer_id, id, currency, 'card', 40, 'paid', 40, current_period_start, current_period_end FROM subscriptions WHERE id = $1`, b)
	exec("UPDATE usage_records SET invoice_id = 'inv_b_period' WHERE id = $1", billed)
	usage(b, "2.00", now) // −2
	cancelled := sub("99.00")
	usage(cancelled, "9.00", now)
	exec("UPDATE subscriptions SET status = 'cancelled', cancelled_at = now() WHERE id = $1", cancelled)

	w := h.getWallet(wallet)
	if w["balance"] != "100.00" || w["projected_balance"] != "24.50" {
		t.Fatalf("balance %v, projected %v; want 100.00 and 100 − 30 − 15 − 25 − 3.50 − 2 = 24.50", w["balance"], w["projected_balance"])
	}
	ledgertest.Invoice(t, h.pool, cust, "50.00")
	if w := h.getWallet(wallet); w["projected_balance"] != "-25.50" {
		t.Fatalf("projected %v, want -25.50 (it can be negative)", w["projected_balance"])
	}
}

// TestPaidLoadWorkflowNotStarted: when the workflow cannot be started, the API answers 503
// and the load is failed so that nothing can charge it later; nothing is credited.
func TestPaidLoadWorkflowNotStarted(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMSettle)
	broken, err := client.NewLazyClient(client.Options{HostPort: env.TemporalAddress, Namespace: "no-such-namespace"})
	if err != nil {
		t.Fatal(err)
	}
	defer broken.Close()
	h.srv = New(Deps{Pool: h.pool, Temporal: broken, Keys: h.srv.keys, Logger: h.srv.log, TaskQueue: "nowhere"})
	r := h.load(wallet, map[string]any{"amount": "10.00", "type": "paid"})
	mustStatus(t, r, 503)
	if r.ErrorCode(t) != "workflow_start_failed" {
		t.Fatalf("code %s", r.Body)
	}
	if h.count("wallet_loads WHERE status = 'failed' AND error_type = 'unknown' AND invoice_id IS NULL") != 1 ||
		h.count("wallet_transactions") != 0 || h.count("invoices") != 0 || h.provider.Charges() != 0 {
		t.Fatal("an unstarted load was not failed cleanly")
	}
}

// docNumber is the n-th document number of kind this year (CN-2026-000001).
func docNumber(kind string, n int) string {
	return fmt.Sprintf("%s-%d-%06d", kind, time.Now().UTC().Year(), n)
}
