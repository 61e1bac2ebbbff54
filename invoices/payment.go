package invoices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/customers"
	"payorch/declines"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/payments"
	"payorch/store"
	"payorch/subscriptions"
)

// ErrClosed is returned when an invoice is paid or voided and cannot take a payment.
var ErrClosed = errors.New("invoice is closed")

// ClosedError says an invoice is closed and in which status (paid, voided); it matches ErrClosed.
type ClosedError struct{ Status string }

func (e *ClosedError) Error() string { return "invoice is " + e.Status }

// Is makes errors.Is(err, ErrClosed) true.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

// ErrOverpayment is returned when a payment would exceed the amount due.
var ErrOverpayment = errors.New("payment exceeds the amount due")

// Collection holds: why an invoice is not charged now, although it is unpaid. The payment
// workflow waits in awaiting_action with the reason instead of charging.
const (
	// HoldSubscriptionErrored: the invoice's subscription is errored (another invoice of it
	// exhausted its attempts). Its open invoices are not collected automatically until the
	// subscription is reactivated; a manual retry still charges.
	HoldSubscriptionErrored = contracts.HoldSubscriptionErrored
	// HoldPaymentMethodMissing: the customer has no active payment method of the invoice's
	// method (card or direct_debit); a new one charges the invoice at once.
	HoldPaymentMethodMissing = contracts.HoldPaymentMethodMissing
)

// Snapshot is the part of an invoice the payment workflow reasons about.
type Snapshot struct {
	InvoiceID      string        `json:"invoice_id"`
	CustomerID     string        `json:"customer_id"`
	SubscriptionID string        `json:"subscription_id,omitempty"`
	Status         string        `json:"status"`
	Currency       string        `json:"currency"`
	Total          string        `json:"total"`
	AmountPaid     string        `json:"amount_paid"`
	AmountDue      string        `json:"amount_due"`
	Transactions   []Transaction `json:"transactions"`
	// Hold is set when the invoice must not be collected automatically now
	// (HoldSubscriptionErrored); HoldReason says why in words.
	Hold       string `json:"hold,omitempty"`
	HoldReason string `json:"hold_reason,omitempty"`
}

// GetSnapshot returns the invoice's payment snapshot, with the hold that stops its
// automatic collection, if any: an open invoice (to_pay) of an errored subscription is
// not collected (DESIGN.md "An errored subscription is not collected"). The invoice that
// errored the subscription (status error) is not held: its manual retry, a new payment
// method or a reconciliation may pay it and reactivate the subscription.
func (s *Service) GetSnapshot(ctx context.Context, id string) (Snapshot, error) {
	return snapshotTx(ctx, store.New(s.pool), id)
}

// snapshotTx is GetSnapshot inside the caller's transaction q.
func snapshotTx(ctx context.Context, q *store.Queries, id string) (Snapshot, error) {
	inv, err := load(ctx, q, id)
	if err != nil {
		return Snapshot{}, err
	}
	snap := snapshotOf(inv)
	if inv.SubscriptionID != nil && inv.Status == StatusToPay {
		sub, err := q.GetInvoiceSubscription(ctx, *inv.SubscriptionID)
		if err != nil {
			return Snapshot{}, fmt.Errorf("get subscription: %w", err)
		}
		if sub.Status == subscriptions.StatusErrored {
			snap.Hold = HoldSubscriptionErrored
			snap.HoldReason = fmt.Sprintf("subscription %s is errored: its invoices are not collected until it is reactivated (a manual retry still charges)", sub.ID)
		}
	}
	return snap, nil
}

func snapshotOf(inv Invoice) Snapshot {
	sub := ""
	if inv.SubscriptionID != nil {
		sub = *inv.SubscriptionID
	}
	return Snapshot{InvoiceID: inv.ID, CustomerID: inv.CustomerID, SubscriptionID: sub, Status: inv.Status,
		Currency: inv.Currency, Total: inv.Total, AmountPaid: inv.AmountPaid, AmountDue: inv.AmountDue, Transactions: inv.Transactions}
}

// ChargeStart is a charge ready to send to the provider (or already decided locally).
type ChargeStart struct {
	// Transaction is the attempt's transaction (pending unless decided locally).
	Transaction Transaction
	// Request is what to send to the provider; empty when Transaction is not pending.
	Request payments.ChargeRequest
	// Method is card or direct_debit; Last4 labels the card for operators.
	Method string
	Last4  string
	// NothingDue is true when the invoice has nothing left to charge (or is closed).
	NothingDue bool
	// Hold is HoldPaymentMethodMissing when there is nothing to charge the invoice to; no
	// transaction is created. HoldReason says why in words.
	Hold       string
	HoldReason string
}

// ChargeKey is the PSP idempotency key of charge n of an invoice.
func ChargeKey(invoiceID string, n int) string { return fmt.Sprintf("%s:attempt:%d", invoiceID, n) }

// StartCharge creates (once) the pending transaction of charge n for the amount due now,
// on the customer's payment method of the invoice's method: a card invoice is charged to
// the default card (else the newest active card), a direct-debit invoice to the default
// mandate (else the newest active one) — never to a method of another kind. Calling it
// again returns the same transaction and request, so a retried activity resends the same
// idempotency key. Without such a method nothing is created and the result is held
// (HoldPaymentMethodMissing); an expired card gets a failed transaction (hard decline).
func (s *Service) StartCharge(ctx context.Context, invoiceID string, n int) (ChargeStart, error) {
	var out ChargeStart
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		out, err = s.startChargeTx(ctx, q, invoiceID, n)
		return err
	})
	return out, err
}

// startChargeTx is StartCharge inside the caller's transaction q.
func (s *Service) startChargeTx(ctx context.Context, q *store.Queries, invoiceID string, n int) (ChargeStart, error) {
	key := ChargeKey(invoiceID, n)
	var out ChargeStart
	err := func() error {
		inv, err := q.LockInvoice(ctx, invoiceID)
		if store.IsNoRows(err) {
			return notFound(invoiceID)
		}
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		cust, err := q.GetCustomer(ctx, inv.CustomerID)
		if err != nil {
			return fmt.Errorf("get customer: %w", err)
		}
		txn, err := q.GetInvoiceTransactionByKey(ctx, &key)
		if err == nil {
			return s.describeCharge(ctx, q, inv, cust, txn, &out)
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("get transaction: %w", err)
		}
		due := amountDue(inv)
		if (inv.Status != StatusToPay && inv.Status != StatusError) || !due.IsPositive() {
			out.NothingDue = true
			return nil
		}
		method := inv.PaymentMethod
		if method != "card" && method != "direct_debit" {
			out.Hold, out.HoldReason = HoldPaymentMethodMissing, "a "+method+" invoice is not charged: it waits for a reconciliation"
			return nil
		}
		pm, err := q.ChargeablePaymentMethod(ctx, store.ChargeablePaymentMethodParams{CustomerID: inv.CustomerID, Type: method})
		if store.IsNoRows(err) {
			out.Hold = HoldPaymentMethodMissing
			out.HoldReason = fmt.Sprintf("the customer has no active %s to charge (the invoice is paid by %s): waiting for one", methodNoun(method), method)
			return nil
		}
		if err != nil {
			return fmt.Errorf("payment method: %w", err)
		}
		pmID := &pm.ID
		row, err := q.InsertInvoiceTransaction(ctx, store.InsertInvoiceTransactionParams{
			ID: ids.New(ids.Transaction), InvoiceID: inv.ID, Attempt: int32(n), Method: method,
			Amount: due, Currency: inv.Currency, Status: "pending", PaymentMethodID: pmID, IdempotencyKey: &key,
		})
		if err != nil {
			return fmt.Errorf("insert transaction: %w", err)
		}
		if err := q.NoteInvoiceAttempt(ctx, store.NoteInvoiceAttemptParams{ID: inv.ID, AttemptCount: int32(n)}); err != nil {
			return fmt.Errorf("note attempt: %w", err)
		}
		inv.AttemptCount = max(inv.AttemptCount, int32(n)) // as the events below show it
		switch {
		case pm.Type == "card" && pm.ExpMonth != nil && pm.ExpYear != nil && customers.CardExpired(*pm.ExpMonth, *pm.ExpYear, s.Now()):
			row, err = s.failLocally(ctx, q, inv, cust, row, payments.ChargeResult{Status: payments.StatusFailed,
				ErrorType: payments.ErrPaymentMethodExpired, HardDecline: true, ProviderCode: "expired_card",
				Message: fmt.Sprintf("the card expired at the end of %02d/%d", *pm.ExpMonth, *pm.ExpYear)})
		}
		if err != nil {
			return err
		}
		return s.describeCharge(ctx, q, inv, cust, row, &out)
	}()
	return out, err
}

func methodNoun(method string) string {
	if method == "direct_debit" {
		return "direct-debit mandate"
	}
	return method
}

func (s *Service) failLocally(ctx context.Context, q *store.Queries, inv store.Invoice, cust store.Customer, row store.InvoiceTransaction, res payments.ChargeResult) (store.InvoiceTransaction, error) {
	if err := s.applyResult(ctx, q, inv, cust, row, res); err != nil {
		return row, err
	}
	return q.GetInvoiceTransaction(ctx, row.ID)
}

func (s *Service) describeCharge(ctx context.Context, q *store.Queries, inv store.Invoice, cust store.Customer, txn store.InvoiceTransaction, out *ChargeStart) error {
	out.Transaction = TransactionFromRow(txn)
	out.Method = txn.Method
	if txn.PaymentMethodID == nil {
		return nil
	}
	pm, err := q.GetPaymentMethod(ctx, *txn.PaymentMethodID)
	if err != nil {
		return fmt.Errorf("get payment method: %w", err)
	}
	if pm.Last4 != nil {
		out.Last4 = *pm.Last4
	}
	if txn.Status != "pending" || pm.ProviderID == nil {
		return nil
	}
	custRef := ""
	if cust.ProviderCustomerID != nil {
		custRef = *cust.ProviderCustomerID
	}
	out.Request = payments.ChargeRequest{
		IdempotencyKey: *txn.IdempotencyKey, CustomerRef: custRef, PaymentMethodRef: *pm.ProviderID,
		Amount: txn.Amount, Currency: txn.Currency,
		Description: fmt.Sprintf("Invoice %s, attempt %d", inv.ID, txn.Attempt),
		Metadata:    map[string]string{"invoice_id": inv.ID, "attempt": fmt.Sprint(txn.Attempt), "transaction_id": txn.ID, "customer_id": inv.CustomerID},
	}
	return nil
}

// RecordChargeResult applies a provider's answer to a pending transaction: settled adds
// to amount_paid; failed records the error and writes invoice.transaction_failed (plus the
// customer email and, for a hard decline, payment_method.errored); pending stores the
// reference. A transaction that is no longer pending is left as it is.
func (s *Service) RecordChargeResult(ctx context.Context, txnID string, res payments.ChargeResult) (Transaction, error) {
	var out Transaction
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		out, err = s.recordChargeResultTx(ctx, q, txnID, res)
		return err
	})
	return out, err
}

// recordChargeResultTx is RecordChargeResult inside the caller's transaction q.
func (s *Service) recordChargeResultTx(ctx context.Context, q *store.Queries, txnID string, res payments.ChargeResult) (Transaction, error) {
	var out Transaction
	err := func() error {
		txn, err := q.GetInvoiceTransaction(ctx, txnID)
		if err != nil {
			return fmt.Errorf("get transaction %s: %w", txnID, err)
		}
		inv, err := q.LockInvoice(ctx, txn.InvoiceID)
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		cust, err := q.GetCustomer(ctx, inv.CustomerID)
		if err != nil {
			return fmt.Errorf("get customer: %w", err)
		}
		if err := s.applyResult(ctx, q, inv, cust, txn, res); err != nil {
			return err
		}
		row, err := q.GetInvoiceTransaction(ctx, txnID)
		out = TransactionFromRow(row)
		return err
	}()
	return out, err
}

// ApplyProviderEvent applies an asynchronous provider outcome to the transaction with
// that provider reference. found is false when no invoice transaction has it.
func (s *Service) ApplyProviderEvent(ctx context.Context, reference string, res payments.ChargeResult) (Transaction, bool, error) {
	txn, err := store.New(s.pool).GetInvoiceTransactionByReference(ctx, &reference)
	if store.IsNoRows(err) {
		return Transaction{}, false, nil
	}
	if err != nil {
		return Transaction{}, false, fmt.Errorf("transaction by reference: %w", err)
	}
	out, err := s.RecordChargeResult(ctx, txn.ID, res)
	return out, true, err
}

// InvoiceIDForReference returns the invoice of the transaction with a provider reference.
func (s *Service) InvoiceIDForReference(ctx context.Context, reference string) (string, bool, error) {
	txn, err := store.New(s.pool).GetInvoiceTransactionByReference(ctx, &reference)
	if store.IsNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("transaction by reference: %w", err)
	}
	return txn.InvoiceID, true, nil
}

func (s *Service) applyResult(ctx context.Context, q *store.Queries, inv store.Invoice, cust store.Customer, txn store.InvoiceTransaction, res payments.ChargeResult) error {
	if txn.Status != "pending" {
		return nil
	}
	ref := nilIfEmpty(res.Reference)
	switch res.Status {
	case payments.StatusPending:
		if ref != nil {
			return q.SetInvoiceTransactionReference(ctx, store.SetInvoiceTransactionReferenceParams{ID: txn.ID, ProviderReference: ref})
		}
		return nil
	case payments.StatusSettled:
		if _, err := q.SettleInvoiceTransaction(ctx, store.SettleInvoiceTransactionParams{ID: txn.ID, Reference: ref}); err != nil {
			return fmt.Errorf("settle transaction: %w", err)
		}
		if _, err := q.AddInvoiceAmountPaid(ctx, store.AddInvoiceAmountPaidParams{ID: inv.ID, Amount: txn.Amount}); err != nil {
			if store.IsNoRows(err) {
				// The money was captured but the invoice cannot take it (closed meanwhile):
				// refuse, so the transaction stays pending for an operator.
				return fmt.Errorf("%w: settled charge %s of %s does not fit invoice %s (status %s, due %s)",
					ErrOverpayment, txn.ID, money.Format(txn.Amount, txn.Currency), inv.ID, inv.Status, money.Format(amountDue(inv), inv.Currency))
			}
			return fmt.Errorf("add amount paid: %w", err)
		}
		return nil
	case payments.StatusFailed:
		et := string(res.ErrorType)
		if !declines.Type(et).Valid() {
			et = string(payments.ErrUnknown)
		}
		// The one policy decides, from the type and the provider's codes (the provider's
		// own flag is derived from the same policy).
		pol := declines.For(declines.Type(et), res.DeclineCode, res.ProviderCode)
		failed, err := q.FailInvoiceTransaction(ctx, store.FailInvoiceTransactionParams{
			ID: txn.ID, ErrorType: &et, HardDecline: pol.Hard, ProviderCode: nilIfEmpty(res.ProviderCode), DeclineCode: nilIfEmpty(res.DeclineCode),
			ProviderMessage: nilIfEmpty(res.Message), Reference: ref,
		})
		if err != nil {
			return fmt.Errorf("fail transaction: %w", err)
		}
		view, err := view(ctx, q, inv)
		if err != nil {
			return err
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{Type: outbox.InvoiceTransactionFailed, ResourceType: "invoice",
			ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: view}); err != nil {
			return err
		}
		if pol.Emailed {
			email := PaymentFailedEmail{Invoice: view, Transaction: TransactionFromRow(failed), Customer: customerContact(cust),
				ErrorType: et, CustomerCanFix: pol.CustomerCanFix, Fraud: pol.RevealsNothing}
			if pol.RevealsNothing {
				email.Transaction.ErrorType, email.Transaction.ProviderCode, email.Transaction.DeclineCode, email.Transaction.ProviderMessage = nil, nil, nil, nil
				email.Transaction.HardDecline = false
				email.ErrorType = ""
				email.Invoice.Transactions = []Transaction{}
			}
			if _, err := outbox.Emit(ctx, q, outbox.Event{Type: outbox.EmailPaymentFailed, ResourceType: "invoice",
				ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: email}); err != nil {
				return err
			}
		}
		if pol.Hard && txn.PaymentMethodID != nil {
			if _, err := customers.MarkErrored(ctx, q, *txn.PaymentMethodID, et, inv.ID); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown charge status %q", res.Status)
}

// Contact is who a customer email goes to.
type Contact struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Language string `json:"language"`
}

func customerContact(c store.Customer) Contact {
	return Contact{ID: c.ID, Name: c.Name, Email: c.Email, Language: c.Language}
}

// PaymentFailedEmail is the data of an outbox.EmailPaymentFailed event, written when the
// policy (declines.Policy.Emailed) says the customer is told. When the policy says the
// email reveals nothing (fraud), it carries no reason and Fraud is set.
type PaymentFailedEmail struct {
	Invoice        Invoice     `json:"invoice"`
	Transaction    Transaction `json:"transaction"`
	Customer       Contact     `json:"customer"`
	ErrorType      string      `json:"error_type,omitempty"`
	CustomerCanFix bool        `json:"customer_can_fix"`
	// Fraud is declines.Policy.RevealsNothing: the mailer sends the neutral email.
	Fraud bool `json:"fraud"`
}

// BankTransferEmail is the data of an outbox.EmailBankTransferInstructions event.
type BankTransferEmail struct {
	Invoice  Invoice `json:"invoice"`
	Customer Contact `json:"customer"`
	// Reference is what the customer must write on the transfer.
	Reference string `json:"reference"`
}

// Closing says what a state change did.
type Closing struct {
	InvoiceStatus string `json:"invoice_status"`
	// Changed is false when the invoice was already in the target state.
	Changed bool `json:"changed"`
	// SubscriptionStatus is the subscription's status afterwards ("" without one).
	SubscriptionStatus string `json:"subscription_status,omitempty"`
	// ResumeInvoices (MarkPaid) are the subscription's other open invoices when it is
	// active after the payment: those held while it was errored may be collected again.
	ResumeInvoices []string `json:"resume_invoices,omitempty"`
}

// MarkPaid marks a fully paid invoice paid (invoice.settled) and, when its subscription
// is errored and now is still inside the subscription's period, reactivates it
// (subscription.activated) — in one transaction. When the subscription is active
// afterwards, ResumeInvoices lists its other open invoices (to resume those held while it
// was errored; telling one that was not held changes nothing).
func (s *Service) MarkPaid(ctx context.Context, invoiceID string, now time.Time) (Closing, error) {
	var out Closing
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		out, err = s.markPaidTx(ctx, q, invoiceID, now)
		return err
	})
	return out, err
}

// markPaidTx is MarkPaid inside the caller's transaction q.
func (s *Service) markPaidTx(ctx context.Context, q *store.Queries, invoiceID string, now time.Time) (Closing, error) {
	var out Closing
	err := func() error {
		inv, err := q.MarkInvoicePaid(ctx, invoiceID)
		if store.IsNoRows(err) {
			cur, err := q.GetInvoice(ctx, invoiceID)
			if err != nil {
				return fmt.Errorf("get invoice: %w", err)
			}
			if cur.Status != StatusPaid {
				return fmt.Errorf("invoice %s cannot be marked paid: status %s, due %s", invoiceID, cur.Status, money.Format(amountDue(cur), cur.Currency))
			}
			out = Closing{InvoiceStatus: StatusPaid}
			return s.paidSubscription(ctx, q, cur, &out)
		}
		if err != nil {
			return fmt.Errorf("mark paid: %w", err)
		}
		out = Closing{InvoiceStatus: StatusPaid, Changed: true}
		v, err := view(ctx, q, inv)
		if err != nil {
			return err
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{Type: outbox.InvoiceSettled, ResourceType: "invoice", ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: v}); err != nil {
			return err
		}
		if inv.SubscriptionID != nil {
			sub, err := q.InvoiceSubscriptionActivated(ctx, store.InvoiceSubscriptionActivatedParams{ID: *inv.SubscriptionID, Now: now})
			if err := emitSubscriptionChange(ctx, q, outbox.SubscriptionActivated, sub, err); err != nil {
				return err
			}
		}
		return s.paidSubscription(ctx, q, inv, &out)
	}()
	return out, err
}

// MarkErrored marks an invoice whose attempts are exhausted as error (invoice.errored)
// and its active subscription as errored (subscription.errored) — in one transaction.
func (s *Service) MarkErrored(ctx context.Context, invoiceID string) (Closing, error) {
	var out Closing
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := q.MarkInvoiceErrored(ctx, invoiceID)
		if store.IsNoRows(err) {
			cur, err := q.GetInvoice(ctx, invoiceID)
			if err != nil {
				return fmt.Errorf("get invoice: %w", err)
			}
			out = Closing{InvoiceStatus: cur.Status}
			return s.subscriptionStatus(ctx, q, cur, &out)
		}
		if err != nil {
			return fmt.Errorf("mark errored: %w", err)
		}
		out = Closing{InvoiceStatus: StatusError, Changed: true}
		v, err := view(ctx, q, inv)
		if err != nil {
			return err
		}
		if _, err := outbox.Emit(ctx, q, outbox.Event{Type: outbox.InvoiceErrored, ResourceType: "invoice", ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: v}); err != nil {
			return err
		}
		if inv.SubscriptionID != nil {
			sub, err := q.InvoiceSubscriptionErrored(ctx, *inv.SubscriptionID)
			if err := emitSubscriptionChange(ctx, q, outbox.SubscriptionErrored, sub, err); err != nil {
				return err
			}
		}
		return s.subscriptionStatus(ctx, q, inv, &out)
	})
	return out, err
}

// emitSubscriptionChange writes the event of a conditional subscription update that
// returned sub (or err): no row means the condition did not hold, and nothing happened.
func emitSubscriptionChange(ctx context.Context, q *store.Queries, event string, sub store.Subscription, err error) error {
	if store.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", event, err)
	}
	_, err = outbox.Emit(ctx, q, outbox.Event{Type: event, ResourceType: "subscription",
		ResourceID: sub.ID, CustomerID: sub.CustomerID, Data: subscriptions.View(sub)})
	return err
}

// paidSubscription fills the subscription's status and, when it is active, its other
// open invoices to resume.
func (s *Service) paidSubscription(ctx context.Context, q *store.Queries, inv store.Invoice, out *Closing) error {
	if err := s.subscriptionStatus(ctx, q, inv, out); err != nil {
		return err
	}
	if out.SubscriptionStatus != subscriptions.StatusActive {
		return nil
	}
	ids, err := q.ListOpenInvoiceIDsForSubscription(ctx, inv.SubscriptionID)
	if err != nil {
		return fmt.Errorf("open invoices of subscription: %w", err)
	}
	for _, id := range ids {
		if id != inv.ID {
			out.ResumeInvoices = append(out.ResumeInvoices, id)
		}
	}
	return nil
}

func (s *Service) subscriptionStatus(ctx context.Context, q *store.Queries, inv store.Invoice, out *Closing) error {
	if inv.SubscriptionID == nil {
		return nil
	}
	sub, err := q.GetInvoiceSubscription(ctx, *inv.SubscriptionID)
	if err != nil {
		return fmt.Errorf("get subscription: %w", err)
	}
	out.SubscriptionStatus = sub.Status
	return nil
}

// ReconcileInput is a payment received outside the PSP.
type ReconcileInput struct {
	// Key makes the reconciliation idempotent (the Update's id).
	Key       string
	Amount    decimal.Decimal
	Reference string
	PaidAt    time.Time
	// Method is bank_transfer or manual.
	Method string
}

// Reconcile records a manual payment (partial allowed): a settled transaction and the
// amount added to amount_paid, refused beyond the amount due. Idempotent per Key.
func (s *Service) Reconcile(ctx context.Context, invoiceID string, in ReconcileInput) (Transaction, error) {
	key := reconcileTxnKey(invoiceID, in.Key)
	var out Transaction
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := q.LockInvoice(ctx, invoiceID)
		if store.IsNoRows(err) {
			return notFound(invoiceID)
		}
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		if prev, err := q.GetInvoiceTransactionByKey(ctx, &key); err == nil {
			out = TransactionFromRow(prev)
			return nil
		}
		// A reference counts once per invoice, whatever request carries it (a unique index
		// enforces it too): the same amount again is that reconciliation.
		if ref := strings.TrimSpace(in.Reference); ref != "" {
			prev, err := q.GetReconciliationByReference(ctx, store.GetReconciliationByReferenceParams{InvoiceID: invoiceID, Reference: &ref})
			if err == nil {
				if !prev.Amount.Equal(in.Amount) {
					return referenceReconciled(ref, prev.Amount, inv.Currency)
				}
				out = TransactionFromRow(prev)
				return nil
			}
			if !store.IsNoRows(err) {
				return fmt.Errorf("get reconciliation %q: %w", ref, err)
			}
		}
		if inv.Status != StatusToPay && inv.Status != StatusError {
			return &ClosedError{Status: inv.Status}
		}
		if err := money.CheckScale(in.Amount, inv.Currency); err != nil || !in.Amount.IsPositive() {
			return apperr.InvalidParam("amount", "amount_invalid", "the amount must be positive with the currency's decimals")
		}
		if in.Amount.GreaterThan(amountDue(inv)) {
			return fmt.Errorf("%w: %s > %s", ErrOverpayment, money.Format(in.Amount, inv.Currency), money.Format(amountDue(inv), inv.Currency))
		}
		method := in.Method
		if method == "" {
			method = "bank_transfer"
		}
		paidAt := in.PaidAt
		row, err := q.InsertInvoiceTransaction(ctx, store.InsertInvoiceTransactionParams{
			ID: ids.New(ids.Transaction), InvoiceID: inv.ID, Attempt: inv.AttemptCount, Method: method,
			Amount: in.Amount, Currency: inv.Currency, Status: "settled", IdempotencyKey: &key,
			Reference: nilIfEmpty(strings.TrimSpace(in.Reference)), PaidAt: &paidAt,
		})
		if err != nil {
			return fmt.Errorf("insert reconciliation: %w", err)
		}
		if _, err := q.AddInvoiceAmountPaid(ctx, store.AddInvoiceAmountPaidParams{ID: inv.ID, Amount: in.Amount}); err != nil {
			return fmt.Errorf("add amount paid: %w", err)
		}
		out = TransactionFromRow(row)
		return nil
	})
	return out, err
}

// Void closes an unpaid invoice (no further attempts), records why (reason, may be empty)
// and cancels its pending transactions. Giving wallet debits back is the ledger's
// (ledger.CreditBackInvoiceDebits).
func (s *Service) Void(ctx context.Context, invoiceID, reason string) (Closing, error) {
	var out Closing
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		inv, err := q.MarkInvoiceVoided(ctx, store.MarkInvoiceVoidedParams{ID: invoiceID, VoidReason: nilIfEmpty(reason)})
		if store.IsNoRows(err) {
			cur, err := q.GetInvoice(ctx, invoiceID)
			if err != nil {
				return fmt.Errorf("get invoice: %w", err)
			}
			if cur.Status != StatusVoided {
				return &ClosedError{Status: cur.Status}
			}
			out = Closing{InvoiceStatus: StatusVoided}
			return nil
		}
		if err != nil {
			return fmt.Errorf("void: %w", err)
		}
		out = Closing{InvoiceStatus: StatusVoided, Changed: true}
		return q.CancelPendingInvoiceTransactions(ctx, inv.ID)
	})
	return out, err
}

// SetSchedule records the attempt count and the next automatic retry for the API.
func (s *Service) SetSchedule(ctx context.Context, invoiceID string, attempts int, next *time.Time) error {
	if err := store.New(s.pool).SetInvoiceSchedule(ctx, store.SetInvoiceScheduleParams{ID: invoiceID, AttemptCount: int32(attempts), NextRetryAt: next}); err != nil {
		return fmt.Errorf("set schedule: %w", err)
	}
	return nil
}

// QueueBankTransferEmail writes (once per invoice) the email with payment instructions.
func (s *Service) QueueBankTransferEmail(ctx context.Context, invoiceID string) (bool, error) {
	queued := false
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		var err error
		queued, err = queueBankTransferEmailTx(ctx, q, invoiceID)
		return err
	})
	return queued, err
}

// queueBankTransferEmailTx is QueueBankTransferEmail inside the caller's transaction q.
func queueBankTransferEmailTx(ctx context.Context, q *store.Queries, invoiceID string) (bool, error) {
	queued := false
	err := func() error {
		inv, err := q.LockInvoice(ctx, invoiceID)
		if err != nil {
			return fmt.Errorf("lock invoice: %w", err)
		}
		n, err := q.CountInvoiceEvents(ctx, store.CountInvoiceEventsParams{ResourceID: inv.ID, Type: outbox.EmailBankTransferInstructions})
		if err != nil || n > 0 {
			return err
		}
		cust, err := q.GetCustomer(ctx, inv.CustomerID)
		if err != nil {
			return fmt.Errorf("get customer: %w", err)
		}
		v, err := view(ctx, q, inv)
		if err != nil {
			return err
		}
		_, err = outbox.Emit(ctx, q, outbox.Event{Type: outbox.EmailBankTransferInstructions, ResourceType: "invoice",
			ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: BankTransferEmail{Invoice: v, Customer: customerContact(cust), Reference: inv.Number}})
		queued = err == nil
		return err
	}()
	return queued, err
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
