package collection

import (
	"context"
	"time"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/invoices"
	"payorch/payments"
)

// EventRouter delivers normalized provider events (Stripe webhooks, the simulated
// provider's SEPA outcomes) to the workflow of the invoice they are about, as a signal
// that the workflow de-duplicates by event id. Events about other charges (wallet loads)
// go to Next.
type EventRouter struct {
	Collection *Client
	// Next handles events that are not about an invoice charge (nil: ignored).
	Next payments.EventHandler
}

// HandleProviderEvent implements payments.EventHandler.
func (r *EventRouter) HandleProviderEvent(ctx context.Context, ev payments.Event) error {
	invoiceID := ev.Metadata["invoice_id"]
	if invoiceID == "" {
		id, found, err := r.Collection.Invoices.InvoiceIDForReference(ctx, ev.Reference)
		if err != nil {
			return err
		}
		if !found {
			if r.Next != nil {
				return r.Next.HandleProviderEvent(ctx, ev)
			}
			return nil
		}
		invoiceID = id
	}
	if ev.Metadata["purpose"] == payments.PurposePortalAuthentication {
		return r.applyPortalPayment(ctx, invoiceID, ev)
	}
	// An invoice whose collection has ended (paid or voided) waits for nothing: not sent.
	_, err := r.Collection.signal(ctx, invoiceID, contracts.SignalProviderEvent,
		contracts.ProviderEvent{EventID: ev.ID, Reference: ev.Reference, Status: string(ev.Status), ErrorType: string(ev.ErrorType),
			HardDecline: ev.HardDecline, ProviderCode: ev.ProviderCode, DeclineCode: ev.DeclineCode, Message: ev.Message})
	return err
}

// applyPortalPayment applies the outcome of a payment the customer authenticated in the
// portal, as the portal page does when it hears back first: a succeeded one is the
// invoice's reconciliation under the payment's id (it counts once, whichever arrives
// first); a failed one took nothing; one about an invoice this database does not have is
// ignored. An error asks the provider to deliver it again.
func (r *EventRouter) applyPortalPayment(ctx context.Context, invoiceID string, ev payments.Event) error {
	if ev.Status != payments.StatusSettled {
		return nil
	}
	_, err := r.Collection.Reconcile(ctx, invoiceID, contracts.ReconcileRequest{
		Amount: ev.Metadata["amount"], Reference: ev.Reference, PaidAt: time.Now().UTC(), Method: invoices.MethodCardOnSession})
	if e, ok := apperr.As(err); ok && (e.Code == contracts.ErrInvoicePaid || e.Code == contracts.ErrReferenceReconciled) {
		return nil // already applied (or the invoice was paid otherwise)
	}
	if apperr.IsKind(err, apperr.NotFound) {
		// No such invoice here (another deployment sharing the provider account): nothing
		// waits for it, as for a signal to no workflow. Failing would have the provider
		// deliver it again for days.
		return nil
	}
	return err
}
