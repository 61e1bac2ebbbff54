package invoices

import (
	"context"
	"errors"
	"fmt"

	"payorch/contracts"
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

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
