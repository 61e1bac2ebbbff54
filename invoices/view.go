package invoices

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"payorch/contracts"
)

// View is the transaction as the payment workflow reports it (contracts.TransactionView).
func (t Transaction) View() contracts.TransactionView {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return contracts.TransactionView{
		ID: t.ID, Attempt: int(t.Attempt), Method: t.Method, Amount: t.Amount, Status: t.Status,
		ErrorType: s(t.ErrorType), HardDecline: t.HardDecline, ProviderCode: s(t.ProviderCode), DeclineCode: s(t.DeclineCode),
		Message: s(t.ProviderMessage), Reference: s(t.ProviderReference), CreatedAt: t.CreatedAt,
	}
}

// Invoice kinds.
const (
	// KindStandard is an invoice collected by its payment workflow.
	KindStandard = "standard"
	// KindWalletLoad is the one-off invoice of a paid wallet load (its load's workflow
	// charges it).
	KindWalletLoad = "wallet_load"
)

// ReconcileKey is the workflow Update id of the reconciliation of a bank reference: one
// reference counts once per invoice (the Update id is also the transaction's key).
func ReconcileKey(reference string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(reference)))
	return "reconcile:" + hex.EncodeToString(sum[:16])
}

// reconcileTxnKey is the idempotency key of the transaction a reconciliation Update (id
// updateID) records.
func reconcileTxnKey(invoiceID, updateID string) string { return invoiceID + ":reconcile:" + updateID }
