package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/store"
)

// Reasons DebitForInvoice took nothing.
const (
	SkipNoWallet         = "no_wallet"
	SkipAutoDebitOff     = "auto_debit_off"
	SkipEmptyBalance     = "empty_balance"
	SkipNothingDue       = "nothing_due"
	SkipNotCollectable   = "invoice_not_collectable"
	SkipCurrencyMismatch = "currency_mismatch"
)

// DebitResult is what DebitForInvoice took from the wallet for one invoice attempt.
type DebitResult struct {
	InvoiceID string `json:"invoice_id"`
	Attempt   int    `json:"attempt"`
	// Amount is what the wallet paid; zero when nothing was taken.
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	// WalletID, WalletTransactionID and InvoiceTransactionID are set when Amount > 0.
	WalletID             string `json:"wallet_id,omitempty"`
	WalletTransactionID  string `json:"wallet_transaction_id,omitempty"`
	InvoiceTransactionID string `json:"invoice_transaction_id,omitempty"`
	// Replayed is true when an earlier call already debited this invoice and attempt: the
	// result is that first debit, nothing new was taken.
	Replayed bool `json:"replayed,omitempty"`
	// Skipped says why nothing was taken (no_wallet, auto_debit_off, empty_balance,
	// nothing_due, invoice_not_collectable, currency_mismatch).
	Skipped string `json:"skipped,omitempty"`
	// Automation is what the wallet automation did after the debit (AfterDebitTx).
	Automation AutomationOutcome `json:"-"`
}

// WalletIdempotencyKey is the invoice transaction key of an attempt's wallet part.
func WalletIdempotencyKey(invoiceID string, attempt int) string {
	return invoiceID + ":wallet:" + strconv.Itoa(attempt)
}

// DebitForInvoice takes min(balance, amount_due) from the customer's wallet for one
// collection attempt of an invoice, when the wallet's auto_debit is on, its balance is
// positive and the invoice (kind standard) is to_pay or error with an amount due. In one
// transaction, with the invoice and wallet rows locked: a debit ledger row (source
// invoice, invoice id, attempt), an invoice transaction (method wallet, settled, key
// <invoice_id>:wallet:<attempt>), the invoice's amount_paid raised, and wallet.debited.
// It never changes the invoice's status.
//
// It is idempotent per (invoice, attempt): the first call's outcome — a debit, or nothing
// taken and why — is recorded (wallet_debit_attempts), and every later call returns it
// (Replayed) without looking at the wallet again; a unique index on the ledger refuses a
// second debit for the same invoice and attempt whatever happens.
//
// It is one transaction: DebitTx's function call and the wallet automation after it.
func (l *Ledger) DebitForInvoice(ctx context.Context, invoiceID string, attempt int) (DebitResult, error) {
	var out DebitResult
	debit := func(q *store.Queries) (err error) {
		out, err = l.DebitTx(ctx, q, invoiceID, attempt)
		return err
	}
	err := l.inTx(ctx, debit)
	if store.IsUniqueViolation(err, "") {
		// Lost a race the invoice lock should have prevented: the first call's outcome stands.
		err = l.inTx(ctx, debit)
	}
	if err != nil {
		return DebitResult{}, err
	}
	return out, nil
}

// DebitTx is DebitForInvoice inside the caller's transaction q (the invoice collection's
// first step runs it with the charge's preparation, in one transaction). It locks the
// invoice row, then the wallet's; the caller must not hold other wallet or invoice locks
// taken in another order. A unique violation (a concurrent call won) leaves the
// transaction aborted: the caller rolls back and calls again, and gets the recorded
// outcome.
//
// Every step runs in the database in one round trip: the SQL function
// ledger_debit_for_invoice (migrations/010_ledger_debit_function.sql) locks, reads the
// recorded outcome, decides (the Skip* reasons), writes the ledger row, the invoice
// transaction, amount_paid, the wallet.debited event (TransactionView's fields) and the
// attempt record. Go passes what it owns: the new ids, the clock, the idempotency key and
// the currencies' decimals. A new debit, or a first attempt skipped for an empty balance
// (auto_debit on), is followed, in the same transaction, by the wallet automation
// (AfterDebitTx: one more round trip).
func (l *Ledger) DebitTx(ctx context.Context, q *store.Queries, invoiceID string, attempt int) (DebitResult, error) {
	if attempt < 0 {
		return DebitResult{}, apperr.InvalidParam("attempt", "parameter_invalid", "attempt must be >= 0")
	}
	exp, err := exponentsJSON()
	if err != nil {
		return DebitResult{}, err
	}
	r, err := q.LedgerDebitForInvoice(ctx, store.LedgerDebitForInvoiceParams{
		InvoiceID: invoiceID, Attempt: int32(attempt), IdempotencyKey: WalletIdempotencyKey(invoiceID, attempt),
		WalletTxID: ids.New(ids.WalletTx), InvoiceTxID: ids.New(ids.Transaction), EventID: ids.New(ids.Event),
		PaidAt: l.Now(), Exponents: exp,
	})
	if err != nil {
		return DebitResult{}, fmt.Errorf("debit wallet for invoice: %w", err)
	}
	if !r.Found {
		return DebitResult{}, apperr.NotFoundf("invoice", invoiceID)
	}
	out := DebitResult{InvoiceID: invoiceID, Attempt: attempt, Amount: r.Amount, Currency: r.Currency,
		WalletID: r.WalletID, WalletTransactionID: r.WalletTransactionID, InvoiceTransactionID: r.InvoiceTransactionID,
		Skipped: r.Skipped, Replayed: r.Replayed}
	if !r.Replayed && (r.Amount.IsPositive() || r.Skipped == SkipEmptyBalance) {
		// Wallet automation (auto top-up, low-balance alert), with the wallet row still locked.
		// An attempt that found the balance empty (auto_debit on) runs it too: a wallet at 0
		// under its below would otherwise never ask for a load again (one in flight at most).
		if out.Automation, err = l.AfterDebitTx(ctx, q, r.WalletID); err != nil {
			return DebitResult{}, err
		}
	}
	return out, nil
}

// exponentsJSON is money.Exponents as JSON, built once: the SQL debit formats the event's
// amounts with it.
var exponentsJSON = sync.OnceValues(func() ([]byte, error) { return json.Marshal(money.Exponents()) })

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreditBackResult is what CreditBackInvoiceDebits gave back to the wallet.
type CreditBackResult struct {
	InvoiceID string `json:"invoice_id"`
	// Amount is the sum of the invoice's wallet debits given back; zero when none.
	Amount              decimal.Decimal `json:"amount"`
	Currency            string          `json:"currency"`
	WalletID            string          `json:"wallet_id,omitempty"`
	WalletTransactionID string          `json:"wallet_transaction_id,omitempty"`
	// Replayed is true when the credit-back had already been made.
	Replayed bool `json:"replayed,omitempty"`
}

// CreditBackInvoiceDebits gives a voided invoice's wallet debits back to the wallet: a
// credit_paid transaction (source invoice_void, invoice id) for their sum, the invoice's
// amount_paid lowered by it and its wallet transactions cancelled, and wallet.credited,
// in one transaction. At most once per invoice (unique index); a second call returns the
// first credit (Replayed). A paid invoice is refused (409 invoice_paid).
func (l *Ledger) CreditBackInvoiceDebits(ctx context.Context, invoiceID string) (CreditBackResult, error) {
	out := CreditBackResult{InvoiceID: invoiceID, Amount: decimal.Zero}
	err := l.inTx(ctx, func(q *store.Queries) error {
		inv, err := q.LedgerLockInvoice(ctx, invoiceID)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("invoice", invoiceID)
		}
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		out.Currency = inv.Currency
		prev, err := q.GetInvoiceVoidCredit(ctx, &invoiceID)
		if err == nil {
			out.Amount, out.WalletID, out.WalletTransactionID, out.Replayed = prev.Amount, prev.WalletID, prev.ID, true
			return nil
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("get void credit: %w", err)
		}
		sums, err := q.SumInvoiceWalletDebits(ctx, &invoiceID)
		if err != nil {
			return fmt.Errorf("sum invoice debits: %w", err)
		}
		if len(sums) == 0 {
			return nil
		}
		if len(sums) > 1 {
			return fmt.Errorf("invoice %s was debited from %d wallets", invoiceID, len(sums))
		}
		if inv.Status == "paid" {
			return apperr.New(apperr.Conflict, "invoice_paid", "a paid invoice's wallet debits cannot be given back; void it first")
		}
		total := sums[0].Total
		if _, err := lockWallet(ctx, q, sums[0].WalletID); err != nil {
			return err
		}
		tx, err := q.CreditWallet(ctx, store.CreditWalletParams{
			ID: ids.New(ids.WalletTx), WalletID: sums[0].WalletID, Type: TypeCreditPaid, Amount: total,
			Source: SourceInvoiceVoid, InvoiceID: &invoiceID,
		})
		if err != nil {
			return fmt.Errorf("credit wallet: %w", err)
		}
		if _, err := q.LedgerSubtractInvoicePayment(ctx, store.LedgerSubtractInvoicePaymentParams{ID: invoiceID, Amount: total}); err != nil {
			return fmt.Errorf("lower invoice amount_paid: %w", err)
		}
		if err := q.LedgerCancelWalletInvoiceTransactions(ctx, invoiceID); err != nil {
			return fmt.Errorf("cancel wallet transactions: %w", err)
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{
			Type: outbox.WalletCredited, ResourceType: "wallet_transaction", ResourceID: tx.ID,
			CustomerID: inv.CustomerID, Data: TransactionView(tx),
		}); err != nil {
			return err
		}
		out.Amount, out.WalletID, out.WalletTransactionID = total, tx.WalletID, tx.ID
		return l.CheckBalanceAlertTx(ctx, q, inv.CustomerID)
	})
	if err != nil {
		return CreditBackResult{}, err
	}
	return out, nil
}
