// Package collection is the client side of invoice collection: it starts an invoice's
// payment workflow, sends it Updates (retry, reconcile, void) and signals (new payment
// method, provider events), and queries its state. The API and the starter CLI use it; it
// never reaches into workflow internals, only the names and types in contracts.
package collection

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/customers"
	"payorch/invoices"
)

// Client starts and steers invoice payment workflows.
type Client struct {
	Temporal      client.Client
	TaskQueue     string
	RetrySchedule []time.Duration
	Invoices      *invoices.Service
}

// StartInvoice starts the payment workflow of an invoice (id invoice-payment/<id>). Starting
// it twice is harmless: the running workflow is reused.
func (c *Client) StartInvoice(ctx context.Context, inv invoices.Invoice) error {
	sub := ""
	if inv.SubscriptionID != nil {
		sub = *inv.SubscriptionID
	}
	sa := []temporal.SearchAttributeUpdate{
		contracts.SearchCustomerID.ValueSet(inv.CustomerID),
		contracts.SearchInvoiceID.ValueSet(inv.ID),
		contracts.SearchPaymentStatus.ValueSet(contracts.PaymentCollecting),
	}
	if sub != "" {
		sa = append(sa, contracts.SearchSubscriptionID.ValueSet(sub))
	}
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contracts.InvoicePaymentWorkflowID(inv.ID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(sa...),
		StaticSummary:            fmt.Sprintf("Invoice %s — %s %s — customer %s", inv.ID, inv.Total, inv.Currency, inv.CustomerID),
		StaticDetails: fmt.Sprintf("**Invoice** %s  \n**Customer** %s  \n**Subscription** %s  \n**Amount** %s %s by %s  \n**Retry schedule** %v",
			inv.ID, inv.CustomerID, orNone(sub), inv.Total, inv.Currency, inv.PaymentMethod, c.RetrySchedule),
	}, contracts.InvoicePaymentWorkflow, contracts.InvoicePaymentInput{
		InvoiceID: inv.ID, CustomerID: inv.CustomerID, SubscriptionID: sub, Method: inv.PaymentMethod,
		RetrySchedule: c.RetrySchedule,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil // completed earlier under the same id: nothing to start
	}
	if err != nil {
		return apperr.New(apperr.Unavailable, "temporal_unavailable", "collection could not be started: "+err.Error())
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Retry asks for a manual retry and returns the attempt's outcome.
func (c *Client) Retry(ctx context.Context, invoiceID, requestedBy string) (contracts.UpdateOutcome, error) {
	return c.update(ctx, invoiceID, contracts.UpdateRetry, contracts.RetryRequest{RequestedBy: requestedBy})
}

// Reconcile records a manual payment and returns its outcome.
func (c *Client) Reconcile(ctx context.Context, invoiceID string, req contracts.ReconcileRequest) (contracts.UpdateOutcome, error) {
	return c.update(ctx, invoiceID, contracts.UpdateReconcile, req)
}

// Void stops collection and voids the invoice.
func (c *Client) Void(ctx context.Context, invoiceID string, req contracts.VoidRequest) (contracts.UpdateOutcome, error) {
	return c.update(ctx, invoiceID, contracts.UpdateVoid, req)
}

func (c *Client) update(ctx context.Context, invoiceID, name string, arg any) (contracts.UpdateOutcome, error) {
	if _, err := c.Invoices.Get(ctx, invoiceID); err != nil {
		return contracts.UpdateOutcome{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var out contracts.UpdateOutcome
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   contracts.InvoicePaymentWorkflowID(invoiceID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		return out, c.mapUpdateError(ctx, invoiceID, err)
	}
	return out, nil
}

// updateErrors maps the workflow's rejection types to API errors.
var updateErrors = map[string]struct {
	kind apperr.Kind
	msg  string
}{
	contracts.ErrInvoicePaid:      {apperr.Conflict, "the invoice is already paid"},
	contracts.ErrInvoiceVoided:    {apperr.Conflict, "the invoice is voided"},
	contracts.ErrChargeInFlight:   {apperr.Conflict, "a charge or another request is in flight for this invoice; retry when it has finished"},
	"not_retryable":               {apperr.Conflict, "a bank-transfer invoice is not charged automatically; reconcile it"},
	contracts.ErrAmountExceedsDue: {apperr.Rule, "the amount exceeds what is due on the invoice"},
	contracts.ErrInvalidReconcile: {apperr.Invalid, "the reconciliation is invalid"},
	contracts.ErrInvoiceNotFound:  {apperr.NotFound, "no such invoice"},
}

func (c *Client) mapUpdateError(ctx context.Context, invoiceID string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if m, ok := updateErrors[appErr.Type()]; ok {
			e := apperr.New(m.kind, appErr.Type(), m.msg)
			if appErr.Type() == contracts.ErrInvalidReconcile || appErr.Type() == contracts.ErrAmountExceedsDue {
				e.Message = appErr.Message()
			}
			return e
		}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// The workflow has ended: the invoice is closed.
		inv, gerr := c.Invoices.Get(ctx, invoiceID)
		if gerr == nil {
			switch inv.Status {
			case invoices.StatusPaid:
				return apperr.New(apperr.Conflict, contracts.ErrInvoicePaid, "the invoice is already paid")
			case invoices.StatusVoided:
				return apperr.New(apperr.Conflict, contracts.ErrInvoiceVoided, "the invoice is voided")
			}
		}
		return apperr.New(apperr.Conflict, "collection_not_running", "no payment workflow runs for this invoice")
	}
	return fmt.Errorf("update %s: %w", invoiceID, err)
}

// State queries the payment workflow's full state.
func (c *Client) State(ctx context.Context, invoiceID string) (contracts.PaymentState, error) {
	var st contracts.PaymentState
	v, err := c.Temporal.QueryWorkflow(ctx, contracts.InvoicePaymentWorkflowID(invoiceID), "", contracts.QueryState)
	if err != nil {
		return st, fmt.Errorf("query %s: %w", invoiceID, err)
	}
	return st, v.Get(&st)
}

// PaymentMethodSaved tells every open invoice of the customer when pm is a new default
// automated payment method (a card or a direct debit): workflows waiting for one (or
// errored) charge at once. It returns how many workflows were signalled.
func (c *Client) PaymentMethodSaved(ctx context.Context, pm customers.PaymentMethod) (int, error) {
	if !pm.Default || pm.Type == customers.TypeBankTransfer {
		return 0, nil
	}
	customerID, paymentMethodID := pm.CustomerID, pm.ID
	ids, err := c.Invoices.OpenInvoiceIDs(ctx, customerID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := c.Temporal.SignalWorkflow(ctx, contracts.InvoicePaymentWorkflowID(id), "", contracts.SignalPaymentMethodUpdated,
			contracts.PaymentMethodUpdated{PaymentMethodID: paymentMethodID})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("signal %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
