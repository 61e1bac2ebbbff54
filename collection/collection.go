// Package collection is the client side of invoice collection: it starts an invoice's
// payment workflow, sends it Updates (retry, reconcile, void) and signals (new payment
// method, provider events), and queries its state. The API and the starter CLI use it; it
// never reaches into workflow internals, only the names and types in contracts.
package collection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"payorch/apperr"
	"payorch/contracts"
	"payorch/customers"
	"payorch/dunning"
	"payorch/idempotency"
	"payorch/invoices"
	"payorch/ledger"
	"payorch/settings"
)

// Client starts and steers invoice payment workflows.
type Client struct {
	Temporal  client.Client
	TaskQueue string
	// RetrySchedule is the default retry schedule, used when Settings is nil.
	RetrySchedule []time.Duration
	// Settings gives the dunning policy in force, which each workflow takes a copy of
	// when it starts (nil: RetrySchedule for every error type).
	Settings *settings.Service
	Invoices *invoices.Service
	// UpdateWait bounds the wait for an Update's outcome (0: DefaultUpdateWait); past it
	// the Update may still run and the caller gets ErrStillRunning.
	UpdateWait time.Duration
	// Ledger holds the wallet loads RunWalletLoad runs (nil: no wallet loads).
	Ledger *ledger.Ledger
	// Log receives what goes wrong on the way (nil: slog's default).
	Log *slog.Logger
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// StartInvoice starts the payment workflow of an invoice (id invoice-payment/<id>) and
// records that it is started. Starting it twice is harmless: the running workflow is
// reused, and one that has completed is not started again.
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
	pol, err := c.policy(ctx)
	if err != nil {
		return err // the sweeper will start it again
	}
	def, by := pol.Strings()
	_, err = c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       contracts.InvoicePaymentWorkflowID(inv.ID),
		TaskQueue:                c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(sa...),
		StaticSummary:            fmt.Sprintf("Invoice %s — %s %s — customer %s", inv.ID, inv.Total, inv.Currency, inv.CustomerID),
		StaticDetails: fmt.Sprintf("**Invoice** %s  \n**Customer** %s  \n**Subscription** %s  \n**Amount** %s %s by %s  \n**Retry schedule** %s%s",
			inv.ID, inv.CustomerID, orNone(sub), inv.Total, inv.Currency, inv.PaymentMethod, strings.Join(def, ", "), byTypeDetails(by)),
	}, contracts.InvoicePaymentWorkflow, contracts.InvoicePaymentInput{
		InvoiceID: inv.ID, CustomerID: inv.CustomerID, SubscriptionID: sub, Method: inv.PaymentMethod,
		RetrySchedule: pol.Default, RetryByErrorType: pol.ByErrorType,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) { // already started: completed earlier under the same id
		return apperr.New(apperr.Unavailable, "temporal_unavailable", "collection could not be started: "+err.Error())
	}
	if err := c.Invoices.MarkCollectionStarted(ctx, inv.ID); err != nil {
		return err // the sweeper will start it again, which is harmless
	}
	return nil
}

// policy is the dunning policy a workflow starting now takes (Settings', or RetrySchedule
// for every type).
func (c *Client) policy(ctx context.Context) (dunning.Policy, error) {
	if c.Settings == nil {
		return dunning.Policy{Default: c.RetrySchedule}, nil
	}
	pol, err := c.Settings.Policy(ctx)
	if err != nil {
		return dunning.Policy{}, apperr.New(apperr.Unavailable, "settings_unavailable", "collection could not be started: the dunning policy could not be read: "+err.Error())
	}
	return pol, nil
}

// byTypeDetails lists the policy's schedules per error type for the Web UI's details.
func byTypeDetails(by map[string][]string) string {
	types := make([]string, 0, len(by))
	for t := range by {
		types = append(types, t)
	}
	slices.Sort(types)
	out := ""
	for _, t := range types {
		out += fmt.Sprintf("; %s: %s", t, strings.Join(by[t], ", "))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ErrStillRunning says an Update was sent but its outcome was not known within the
// client's wait: it may still happen. The API answers 202 and where to look; a retry of the
// request (same Idempotency-Key, same Update id) attaches to the same Update.
var ErrStillRunning = errors.New("the request was admitted and is still running")

// DefaultUpdateWait is how long an Update's caller waits for its outcome.
const DefaultUpdateWait = 60 * time.Second

// Retry asks for a manual retry and returns the attempt's outcome. With an idempotency
// key in ctx, the Update id is derived from it, so a retry of the request attaches to the
// same Update instead of charging again.
func (c *Client) Retry(ctx context.Context, invoiceID, requestedBy string) (contracts.UpdateOutcome, error) {
	return c.update(ctx, invoiceID, contracts.UpdateRetry, idempotency.UpdateID(ctx, contracts.UpdateRetry), contracts.RetryRequest{RequestedBy: requestedBy})
}

// Reconcile records a manual payment and returns its outcome. The Update id is derived
// from ctx's idempotency key, or without one from the reference and amount (the same
// transfer sent twice at once is one Update); a reference counts once per invoice in any
// case (invoices.Reconcile).
func (c *Client) Reconcile(ctx context.Context, invoiceID string, req contracts.ReconcileRequest) (contracts.UpdateOutcome, error) {
	id := idempotency.UpdateID(ctx, contracts.UpdateReconcile)
	if id == "" {
		amount, err := decimal.NewFromString(req.Amount)
		if err != nil {
			return contracts.UpdateOutcome{}, apperr.InvalidParam("amount", "amount_invalid", "amount must be a decimal string")
		}
		id = invoices.ReconcileKey(req.Reference, amount)
	}
	out, err := c.update(ctx, invoiceID, contracts.UpdateReconcile, id, req)
	if e, ok := apperr.As(err); ok && (e.Code == contracts.ErrInvoicePaid || e.Code == contracts.ErrInvoiceVoided) {
		// The invoice is closed — perhaps by this very reconciliation, whose answer was
		// lost (its workflow has ended, so the Update cannot attach to the first one). The
		// same reference and amount is the same reconciliation: its outcome, not a 409.
		if prev, found, perr := c.reconciled(ctx, invoiceID, req); perr == nil && found {
			return prev, nil
		}
	}
	return out, err
}

// reconciled returns, as an Update outcome, the reconciliation the invoice already has
// under req's reference with req's amount (found is false when there is none).
func (c *Client) reconciled(ctx context.Context, invoiceID string, req contracts.ReconcileRequest) (contracts.UpdateOutcome, bool, error) {
	amount, err := decimal.NewFromString(req.Amount)
	if err != nil {
		return contracts.UpdateOutcome{}, false, err
	}
	t, found, err := c.Invoices.PriorReconciliation(ctx, invoiceID, req.Reference, amount)
	if err != nil || !found {
		return contracts.UpdateOutcome{}, false, err
	}
	inv, err := c.Invoices.Get(ctx, invoiceID)
	if err != nil {
		return contracts.UpdateOutcome{}, false, err
	}
	st := stateFromInvoice(inv)
	view := t.View()
	return contracts.UpdateOutcome{Transaction: &view, InvoiceStatus: st.InvoiceStatus, PaymentStatus: st.PaymentStatus,
		AmountDue: st.AmountDue, AmountPaid: st.AmountPaid}, true, nil
}

// Void stops collection and voids the invoice (the Update id derived from ctx's
// idempotency key, as for Retry).
func (c *Client) Void(ctx context.Context, invoiceID string, req contracts.VoidRequest) (contracts.UpdateOutcome, error) {
	return c.update(ctx, invoiceID, contracts.UpdateVoid, idempotency.UpdateID(ctx, contracts.UpdateVoid), req)
}

func (c *Client) update(ctx context.Context, invoiceID, name, updateID string, arg any) (contracts.UpdateOutcome, error) {
	if _, err := c.Invoices.Get(ctx, invoiceID); err != nil {
		return contracts.UpdateOutcome{}, err
	}
	wait := c.UpdateWait
	if wait <= 0 {
		wait = DefaultUpdateWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out contracts.UpdateOutcome
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   contracts.InvoicePaymentWorkflowID(invoiceID),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		if ctx.Err() != nil || isDeadline(err) {
			// The wait ran out (or the caller went away) while the Update may still run,
			// whatever error the client made of it.
			return out, fmt.Errorf("%s on %s: %w (%v)", name, invoiceID, ErrStillRunning, err)
		}
		return out, c.mapUpdateError(ctx, invoiceID, err)
	}
	return out, nil
}

// isDeadline reports whether err is the server's or the gRPC client's deadline error.
func isDeadline(err error) bool {
	var de *serviceerror.DeadlineExceeded
	var ce *serviceerror.Canceled
	return errors.As(err, &de) || errors.As(err, &ce) || status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Canceled
}

// updateErrors maps the workflow's rejection types to API errors.
var updateErrors = map[string]struct {
	kind apperr.Kind
	msg  string
}{
	contracts.ErrInvoicePaid:         {apperr.Conflict, "the invoice is already paid"},
	contracts.ErrInvoiceVoided:       {apperr.Conflict, "the invoice is voided"},
	contracts.ErrChargeInFlight:      {apperr.Conflict, "a charge or another request is in flight for this invoice; retry when it has finished"},
	"not_retryable":                  {apperr.Conflict, "a bank-transfer invoice is not charged automatically; reconcile it"},
	contracts.ErrAmountExceedsDue:    {apperr.Rule, "the amount exceeds what is due on the invoice"},
	contracts.ErrInvalidReconcile:    {apperr.Invalid, "the reconciliation is invalid"},
	contracts.ErrInvoiceNotFound:     {apperr.NotFound, "no such invoice"},
	contracts.ErrInvalidData:         {apperr.Invalid, "the database refused the request's data; nothing was recorded"},
	contracts.ErrReferenceReconciled: {apperr.Conflict, "this reference was already reconciled on the invoice for another amount"},
	contracts.ErrMisconfigured:       {apperr.Unavailable, "payorch is misconfigured; an operator must act before this can succeed"},
	contracts.ErrTemporarilyUnavailable: {apperr.Unavailable,
		"a step kept failing on an infrastructure error; nothing was recorded, send the request again"},
}

func (c *Client) mapUpdateError(ctx context.Context, invoiceID string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if m, ok := updateErrors[appErr.Type()]; ok {
			e := apperr.New(m.kind, appErr.Type(), m.msg)
			if appErr.Type() == contracts.ErrInvalidReconcile || appErr.Type() == contracts.ErrAmountExceedsDue || appErr.Type() == contracts.ErrInvalidData ||
				appErr.Type() == contracts.ErrReferenceReconciled {
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

// PaymentView is an invoice's payment state, from its workflow when it answers, else from
// the database (Source says which).
type PaymentView struct {
	contracts.PaymentState
	// Source is "workflow" (its live state) or "database" (the workflow has ended, does
	// not exist, belongs to a wallet load, or did not answer in time).
	Source string `json:"source"`
}

// stateWait bounds the query of a workflow's state (a backlogged worker answers late).
const stateWait = 5 * time.Second

// State returns the payment state of an invoice: the workflow's query when it answers,
// otherwise what the database knows.
func (c *Client) State(ctx context.Context, invoiceID string) (PaymentView, error) {
	inv, err := c.Invoices.Get(ctx, invoiceID)
	if err != nil {
		return PaymentView{}, err
	}
	if inv.Kind == invoices.KindStandard {
		qctx, cancel := context.WithTimeout(ctx, stateWait)
		defer cancel()
		v, err := c.Temporal.QueryWorkflow(qctx, contracts.InvoicePaymentWorkflowID(invoiceID), "", contracts.QueryState)
		if err == nil {
			var st contracts.PaymentState
			if err := v.Get(&st); err == nil {
				return PaymentView{PaymentState: st, Source: "workflow"}, nil
			}
		}
		if ctx.Err() != nil {
			return PaymentView{}, ctx.Err()
		}
	}
	return PaymentView{PaymentState: stateFromInvoice(inv), Source: "database"}, nil
}

// stateFromInvoice is the payment state the invoice row implies.
func stateFromInvoice(inv invoices.Invoice) contracts.PaymentState {
	st := contracts.PaymentState{
		InvoiceID: inv.ID, InvoiceStatus: inv.Status, Currency: inv.Currency, Total: inv.Total,
		AmountPaid: inv.AmountPaid, AmountDue: inv.AmountDue, ChargeNumber: int(inv.AttemptCount),
		NextRetryAt: inv.NextRetryAt, Transactions: []contracts.TransactionView{},
	}
	switch {
	case inv.Status == invoices.StatusPaid:
		st.PaymentStatus = contracts.PaymentPaid
	case inv.Status == invoices.StatusVoided:
		st.PaymentStatus = contracts.PaymentVoided
	case inv.Status == invoices.StatusError:
		st.PaymentStatus = contracts.PaymentErrored
	case inv.NextRetryAt != nil:
		st.PaymentStatus = contracts.PaymentRetryScheduled
	default:
		st.PaymentStatus = contracts.PaymentCollecting
	}
	for _, t := range inv.Transactions {
		st.Transactions = append(st.Transactions, t.View())
	}
	return st
}

// PaymentMethodSaved tells the customer's open invoices that an automatic charge would
// now take from pm (a card for card invoices, a direct debit for direct-debit ones: the
// default of that type, else the newest): workflows waiting for a method, scheduled for a
// retry or errored charge at once. Invoices of another method, or for which pm is not the
// one to charge, are left alone. Each invoice told is recorded, so the sweeper only tells
// what was missed. It returns how many workflows were signalled.
func (c *Client) PaymentMethodSaved(ctx context.Context, pm customers.PaymentMethod) (int, error) {
	if pm.Type == customers.TypeBankTransfer {
		return 0, nil
	}
	ids, err := c.Invoices.ChargeableWith(ctx, pm.CustomerID, pm.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		sent, err := c.tellPaymentMethod(ctx, id, pm.ID)
		if err != nil {
			return n, err
		}
		if sent {
			n++
		}
	}
	return n, nil
}

// tellPaymentMethod signals one invoice's workflow of a new payment method and records it.
func (c *Client) tellPaymentMethod(ctx context.Context, invoiceID, paymentMethodID string) (bool, error) {
	sent, err := c.signal(ctx, invoiceID, contracts.SignalPaymentMethodUpdated, contracts.PaymentMethodUpdated{PaymentMethodID: paymentMethodID})
	if err != nil {
		return false, err
	}
	return sent, c.Invoices.RecordPaymentMethodTold(ctx, invoiceID, paymentMethodID)
}
