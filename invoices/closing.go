package invoices

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"payorch/money"
	"payorch/outbox"
	"payorch/store"
	"payorch/subscriptions"
)

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
		data := BankTransferEmail{Invoice: v, Customer: customerContact(cust), Reference: inv.Number}
		if bt := v.BankTransfer; bt != nil {
			// The provider's account, and its reference: it is how the provider matches
			// the money to the invoice.
			s := func(p *string) string {
				if p == nil {
					return ""
				}
				return *p
			}
			data.Reference = bt.Reference
			data.Instructions = &EmailInstructions{AccountHolder: s(bt.AccountHolder), IBAN: s(bt.IBAN), BIC: s(bt.BIC),
				BankName: s(bt.BankName), SortCode: s(bt.SortCode), AccountNumber: s(bt.AccountNumber),
				RoutingNumber: s(bt.RoutingNumber), Reference: bt.Reference}
		}
		_, err = outbox.Emit(ctx, q, outbox.Event{Type: outbox.EmailBankTransferInstructions, ResourceType: "invoice",
			ResourceID: inv.ID, CustomerID: inv.CustomerID, Data: data})
		queued = err == nil
		return err
	}()
	return queued, err
}
