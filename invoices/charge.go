package invoices

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"payorch/customers"
	"payorch/declines"
	"payorch/ids"
	"payorch/money"
	"payorch/outbox"
	"payorch/payments"
	"payorch/store"
)

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
		inv, err := lockInvoice(ctx, q, invoiceID)
		if err != nil {
			return err
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
	// Instructions is the provider's account when the provider takes the transfer
	// (RecordBankTransfer); absent, the merchant's own account (PAYORCH_BANK_*) is shown.
	Instructions *EmailInstructions `json:"instructions,omitempty"`
}
