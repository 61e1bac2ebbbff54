package customers

import (
	"context"
	"fmt"

	"payorch/outbox"
	"payorch/store"
)

// PaymentMethodErroredEvent is the data of payment_method.errored: the method as it now
// stands and which charge showed that it no longer works.
type PaymentMethodErroredEvent struct {
	PaymentMethod
	// ErrorType is the failed charge's error type (payment_method_expired, …).
	ErrorType string `json:"error_type"`
	// InvoiceID is the invoice the charge was for (a wallet load's one-off invoice too).
	InvoiceID string `json:"invoice_id"`
}

// MarkErrored marks an active payment method errored after a hard decline and emits
// payment_method.errored, in the caller's transaction (q). Every charge path (an invoice's
// attempt, a wallet load) calls it, so a method that cannot be charged is treated the same
// whichever path found out. A method that is not active (already errored) changes nothing;
// it reports whether the method was marked.
func MarkErrored(ctx context.Context, q *store.Queries, paymentMethodID, errorType, invoiceID string) (bool, error) {
	pm, err := q.MarkPaymentMethodErrored(ctx, paymentMethodID)
	if store.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark payment method errored: %w", err)
	}
	if _, err := outbox.Emit(ctx, q, outbox.Event{Type: outbox.PaymentMethodErrored, ResourceType: "payment_method",
		ResourceID: pm.ID, CustomerID: pm.CustomerID,
		Data: PaymentMethodErroredEvent{PaymentMethod: PaymentMethodView(pm), ErrorType: errorType, InvoiceID: invoiceID}}); err != nil {
		return false, err
	}
	return true, nil
}
