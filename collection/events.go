package collection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/invoices"
	"payorch/metrics"
	"payorch/money"
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
	// BankTransfers answers what a bank-transfer funding has received when an event does
	// not say (nil: such events fail and are delivered again).
	BankTransfers payments.BankTransfers
}

// HandleProviderEvent implements payments.EventHandler.
func (r *EventRouter) HandleProviderEvent(ctx context.Context, ev payments.Event) error {
	if ev.Funding != nil {
		return r.applyFunding(ctx, ev)
	}
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

// applyFunding applies a provider's report that an invoice's bank-transfer funding has
// received money (a Stripe customer-balance PaymentIntent, a simulated virtual account)
// as the invoice's reconcile Update, like a person's reconciliation: the funding's running
// total, under a reference derived from it (invoices.FundingReference, so a report counts
// once whatever event carries it) and an Update id derived from that reference. The
// invoice records what the total adds to what it holds under the funding. An invoice
// already paid or voided, or no longer collected, waits for nothing: the event is done,
// and money it brought that the invoice does not record is reported (unapplied).
// Which invoice the funding pays is fundedInvoice's answer. A report in another currency
// than the invoice's is acknowledged and logged, nothing recorded.
func (r *EventRouter) applyFunding(ctx context.Context, ev payments.Event) error {
	inv, ok, err := r.fundedInvoice(ctx, ev)
	if err != nil || !ok {
		return err
	}
	invoiceID := inv.ID
	f := *ev.Funding
	if !f.Known {
		if r.BankTransfers == nil {
			return fmt.Errorf("provider event %s: what bank transfer %s received is unknown and no provider can tell", ev.ID, ev.Reference)
		}
		var err error
		if f, err = r.BankTransfers.BankTransferReceived(ctx, ev.Reference); err != nil {
			return fmt.Errorf("provider event %s: bank transfer %s: %w", ev.ID, ev.Reference, err)
		}
	}
	if !f.Received.IsPositive() {
		return nil
	}
	if !strings.EqualFold(f.Currency, inv.Currency) {
		// Money in another currency is not this invoice's payment: recording its amount
		// in the invoice's currency would be wrong, and no redelivery changes it.
		r.Collection.log().Warn("provider funding event ignored: its currency is not the invoice's", "event", ev.ID,
			"provider", ev.Provider, "funding", ev.Reference, "invoice_id", invoiceID,
			"currency", f.Currency, "invoice_currency", inv.Currency, "received", f.Received.String())
		return nil
	}
	_, err = r.Collection.Reconcile(ctx, invoiceID, contracts.ReconcileRequest{
		Amount:    money.Format(f.Received, f.Currency),
		Reference: invoices.FundingReference(ev.Reference, f.Received, f.Currency),
		PaidAt:    time.Now().UTC(), Method: "bank_transfer", Funding: ev.Reference})
	if e, ok := apperr.As(err); ok && (e.Code == contracts.ErrInvoicePaid || e.Code == contracts.ErrInvoiceVoided || e.Code == "collection_not_running") {
		return r.unapplied(ctx, ev, invoiceID, f)
	}
	if errors.Is(err, ErrStillRunning) {
		return fmt.Errorf("provider event %s: the reconciliation of %s is still running; deliver it again: %w", ev.ID, invoiceID, err)
	}
	return err
}

// unapplied reports the money a funding received for an invoice that is closed (voided,
// or paid otherwise) beyond what the invoice records under it: nothing is written to the
// invoice or the ledger, so it is logged (warning "unapplied funds") and counted
// (metrics.UnappliedFunds) for an operator to give back or apply at the provider. The
// event is done either way.
func (r *EventRouter) unapplied(ctx context.Context, ev payments.Event, invoiceID string, f payments.Funding) error {
	rest, err := r.Collection.Invoices.FundingUnapplied(ctx, invoiceID, ev.Reference, f.Received)
	if err != nil {
		return err
	}
	if !rest.IsPositive() {
		return nil
	}
	status := "closed"
	if inv, err := r.Collection.Invoices.Get(ctx, invoiceID); err == nil {
		status = inv.Status
	}
	metrics.UnappliedFunds.WithLabelValues(ev.Provider, status).Inc()
	r.Collection.log().Warn("unapplied funds: the provider received money for a closed invoice; no invoice records it",
		"event", ev.ID, "provider", ev.Provider, "funding", ev.Reference, "invoice_id", invoiceID, "invoice_status", status,
		"unapplied", money.Format(rest, f.Currency), "currency", f.Currency, "received", money.Format(f.Received, f.Currency))
	return nil
}

// fundedInvoice returns the invoice whose recorded bank-transfer funding the event is
// about (ok false: the event is acknowledged and logged, nothing recorded). A funding
// payorch never recorded is not an invoice's: one whose metadata names no invoice, or an
// invoice this database does not have (another deployment sharing the provider account),
// or an invoice funded by another funding, waits for nothing — failing would have the
// provider deliver it again for days. Only a funding whose metadata names a local invoice
// that has no funding recorded yet (the event overtook the recording of the provider's
// answer) is an error, so the provider delivers it again.
func (r *EventRouter) fundedInvoice(ctx context.Context, ev payments.Event) (invoices.Invoice, bool, error) {
	id, found, err := r.Collection.Invoices.InvoiceIDForBankTransfer(ctx, ev.Provider, ev.Reference)
	if err != nil {
		return invoices.Invoice{}, false, err
	}
	if found {
		inv, err := r.Collection.Invoices.Get(ctx, id)
		return inv, err == nil, err
	}
	named := ev.Metadata["invoice_id"]
	ignore := func(why string) (invoices.Invoice, bool, error) {
		r.Collection.log().Warn("provider funding event ignored: "+why, "event", ev.ID, "provider", ev.Provider,
			"funding", ev.Reference, "invoice_id", named)
		return invoices.Invoice{}, false, nil
	}
	if named == "" {
		return ignore("payorch recorded no such funding and the event names no invoice")
	}
	inv, err := r.Collection.Invoices.Get(ctx, named)
	if apperr.IsKind(err, apperr.NotFound) {
		return ignore("the invoice it names is not in this database")
	}
	if err != nil {
		return invoices.Invoice{}, false, err
	}
	if inv.BankTransfer != nil {
		return ignore("the invoice it names is funded by " + inv.BankTransfer.ProviderReference)
	}
	return invoices.Invoice{}, false, fmt.Errorf("provider event %s: invoice %s has no bank transfer %s recorded (yet)", ev.ID, named, ev.Reference)
}
