package invoices

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/money"
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

// MethodCardOnSession is the method of a reconciliation that is a payment the customer
// authenticated on-session (3-D Secure) in the portal.
const MethodCardOnSession = "card_on_session"

// Invoice kinds.
const (
	// KindStandard is an invoice collected by its payment workflow.
	KindStandard = "standard"
	// KindWalletLoad is the one-off invoice of a paid wallet load (its load's workflow
	// charges it).
	KindWalletLoad = "wallet_load"
)

// ReconcileKey is the workflow Update id of a reconciliation sent without an
// Idempotency-Key: the same reference and amount sent twice at once attach to one Update.
// (A reference counts once per invoice in any case: Reconcile enforces it.)
func ReconcileKey(reference string, amount decimal.Decimal) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(reference) + "\x00" + amount.String()))
	return "reconcile:" + hex.EncodeToString(sum[:16])
}

// referenceReconciled is the refusal of a reference already reconciled on the invoice
// for another amount.
func referenceReconciled(reference string, amount decimal.Decimal, currency string) error {
	return apperr.New(apperr.Conflict, contracts.ErrReferenceReconciled,
		fmt.Sprintf("reference %q was already reconciled on this invoice for %s", reference, money.Format(amount, currency)))
}

// reconcileTxnKey is the idempotency key of the transaction a reconciliation Update (id
// updateID) records.
func reconcileTxnKey(invoiceID, updateID string) string { return invoiceID + ":reconcile:" + updateID }
