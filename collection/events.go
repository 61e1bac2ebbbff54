package collection

import (
	"context"

	"payorch/contracts"
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
	// An invoice whose collection has ended (paid or voided) waits for nothing: not sent.
	_, err := r.Collection.signal(ctx, invoiceID, contracts.SignalProviderEvent,
		contracts.ProviderEvent{EventID: ev.ID, Reference: ev.Reference, Status: string(ev.Status), ErrorType: string(ev.ErrorType),
			HardDecline: ev.HardDecline, ProviderCode: ev.ProviderCode, DeclineCode: ev.DeclineCode, Message: ev.Message})
	return err
}
