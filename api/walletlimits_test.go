package api

import (
	"testing"

	"payorch/ledger/ledgertest"
)

// TestLoadBeyondWhatTheBalanceHolds: loads that would take the balance past what its
// column holds are a typed 422 (balance_too_large, param amount) writing nothing, never a
// 500 from the database; paid loads (counted with those in flight) are refused the same way.
func TestLoadBeyondWhatTheBalanceHolds(t *testing.T) {
	h := newWalletHarness(t)
	_, wallet := h.newWallet(ledgertest.PMSettle)
	const big = "999999999999.99" // the largest amount one load may carry
	refused := false
	for i := 0; i <= 100 && !refused; i++ {
		r := h.load(wallet, map[string]any{"amount": big, "type": "free"})
		switch r.Status {
		case 201:
		case 422:
			if r.ErrorCode(t) != "balance_too_large" || r.JSON(t)["error"].(map[string]any)["param"] != "amount" {
				t.Fatalf("load %d: %s", i, r.Body)
			}
			refused = true
		default:
			t.Fatalf("load %d answered %d: %s", i, r.Status, r.Body)
		}
	}
	if !refused {
		t.Fatal("101 loads of the largest amount were all accepted")
	}
	h.refused("POST", "/v1/wallets/"+wallet+"/load", backendKey, map[string]any{"amount": big, "type": "free"}, 422, "balance_too_large")
	h.refused("POST", "/v1/wallets/"+wallet+"/load", backendKey, map[string]any{"amount": big, "type": "paid"}, 422, "balance_too_large")
	if b := h.getWallet(wallet)["balance"]; b != big {
		t.Fatalf("balance %v", b)
	}
}
