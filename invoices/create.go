package invoices

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/ledger"
	"payorch/money"
	"payorch/store"
	"payorch/subscriptions"
)

// CreateInput is the body of POST /v1/invoices.
type CreateInput struct {
	CustomerID     string      `json:"customer_id"`
	SubscriptionID *string     `json:"subscription_id"`
	ExternalID     *string     `json:"external_id"`
	Currency       *string     `json:"currency"`
	Lines          []LineInput `json:"lines"`
	Total          *string     `json:"total"`
	PaymentMethod  *string     `json:"payment_method"`
	PeriodStart    *time.Time  `json:"period_start"`
	PeriodEnd      *time.Time  `json:"period_end"`
	// AllowInactiveSubscription invoices an errored or cancelled subscription anyway.
	AllowInactiveSubscription bool `json:"allow_inactive_subscription"`
}

// LineInput is one line of CreateInput.
type LineInput struct {
	Description string `json:"description"`
	Amount      string `json:"amount"`
}

const maxLines = 100

func notFound(id string) error { return apperr.NotFoundf("invoice", id) }

// Create validates and stores a new invoice in status to_pay. It does not start its
// collection: the caller starts the payment workflow, and the worker's sweeper starts it
// if the caller could not. Run again for the same request (ctx's idempotency key), it
// returns the invoice the first run created.
func (s *Service) Create(ctx context.Context, in CreateInput) (Invoice, error) {
	if in.CustomerID == "" {
		return Invoice{}, apperr.InvalidParam("customer_id", "parameter_missing", "customer_id is required")
	}
	if in.ExternalID != nil && (*in.ExternalID == "" || len(*in.ExternalID) > 255) {
		return Invoice{}, apperr.InvalidParam("external_id", "parameter_invalid", "external_id must be 1 to 255 characters")
	}
	var out Invoice
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A retry of the request that created an invoice gets that invoice, not a second.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Invoice, error) {
			row, err := q.GetInvoice(ctx, id)
			if err != nil {
				return Invoice{}, err
			}
			return view(ctx, q, row)
		})
		if err != nil || found {
			out = prev
			return err
		}
		cust, err := q.GetCustomer(ctx, in.CustomerID)
		if store.IsNoRows(err) {
			return apperr.InvalidParam("customer_id", "resource_missing", fmt.Sprintf("no customer with id %q", in.CustomerID))
		}
		if err != nil {
			return fmt.Errorf("get customer: %w", err)
		}
		if in.Currency != nil {
			c, err := money.NormalizeCurrency(*in.Currency)
			if err != nil {
				return apperr.InvalidParam("currency", "currency_invalid", "currency must be a supported ISO 4217 code")
			}
			if c != cust.Currency {
				return apperr.InvalidParam("currency", "currency_mismatch", fmt.Sprintf("the customer's currency is %s", cust.Currency))
			}
		}
		lines, total, err := parseLines(in, cust.Currency)
		if err != nil {
			return err
		}
		method, err := s.pickMethod(ctx, q, in.PaymentMethod, cust.ID)
		if err != nil {
			return err
		}
		periodStart, periodEnd := in.PeriodStart, in.PeriodEnd
		if (periodStart == nil) != (periodEnd == nil) {
			return apperr.InvalidParam("period_end", "parameter_invalid", "period_start and period_end go together")
		}
		if periodStart != nil && !periodEnd.After(*periodStart) {
			return apperr.InvalidParam("period_end", "parameter_invalid", "period_end must be after period_start")
		}
		if in.SubscriptionID != nil {
			sub, err := q.GetInvoiceSubscription(ctx, *in.SubscriptionID)
			if store.IsNoRows(err) || (err == nil && sub.CustomerID != cust.ID) {
				return apperr.InvalidParam("subscription_id", "resource_missing", fmt.Sprintf("the customer has no subscription %q", *in.SubscriptionID))
			}
			if err != nil {
				return fmt.Errorf("get subscription: %w", err)
			}
			if sub.Status != "active" && !in.AllowInactiveSubscription {
				return apperr.New(apperr.Rule, "subscription_inactive",
					fmt.Sprintf("subscription %s is %s: it is not invoiced (send allow_inactive_subscription: true to invoice it anyway)", sub.ID, sub.Status))
			}
			if periodStart == nil {
				periodStart, periodEnd = &sub.CurrentPeriodStart, &sub.CurrentPeriodEnd
			}
		} else if in.AllowInactiveSubscription {
			return apperr.InvalidParam("allow_inactive_subscription", "parameter_unexpected", "only for a subscription invoice")
		}
		row, err := q.CreateInvoice(ctx, store.CreateInvoiceParams{
			ID: ids.New(ids.Invoice), CustomerID: cust.ID, SubscriptionID: in.SubscriptionID,
			ExternalID: in.ExternalID, Kind: KindStandard, Currency: cust.Currency, PaymentMethod: method,
			Total: total, PeriodStart: periodStart, PeriodEnd: periodEnd,
		})
		if store.IsUniqueViolation(err, "invoices_external_id_key") {
			e := apperr.Exists("external_id_taken", fmt.Sprintf("an invoice with external_id %q already exists", *in.ExternalID), "")
			// The transaction is aborted; the holder is read outside it.
			if prev, err := store.New(s.pool).GetInvoiceByExternalID(ctx, in.ExternalID); err == nil {
				e.ExistingID = prev.ID
			}
			return e
		}
		if err != nil {
			return fmt.Errorf("create invoice: %w", err)
		}
		for i, l := range lines {
			if err := q.CreateInvoiceLine(ctx, store.CreateInvoiceLineParams{InvoiceID: row.ID, Position: int32(i + 1), Description: l.Description, Amount: l.amount}); err != nil {
				return fmt.Errorf("create invoice line: %w", err)
			}
		}
		if in.SubscriptionID != nil {
			if err := q.BillUsageToInvoice(ctx, store.BillUsageToInvoiceParams{
				InvoiceID: &row.ID, SubscriptionID: *in.SubscriptionID, PeriodStart: *periodStart, PeriodEnd: *periodEnd,
			}); err != nil {
				return fmt.Errorf("bill usage: %w", err)
			}
			// The invoice of the next period renews the subscription (its rule).
			if _, err := subscriptions.Renew(ctx, q, *in.SubscriptionID, *periodStart, *periodEnd); err != nil {
				return err
			}
		}
		// The invoice lowers the customer's projected balance: the low-balance alert looks.
		if err := ledger.New(s.pool).CheckBalanceAlertTx(ctx, q, cust.ID); err != nil {
			return err
		}
		if out, err = view(ctx, q, row); err != nil {
			return err
		}
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

type parsedLine struct {
	Description string
	amount      decimal.Decimal
}

func parseLines(in CreateInput, currency string) ([]parsedLine, decimal.Decimal, error) {
	if len(in.Lines) == 0 && in.Total == nil {
		return nil, decimal.Zero, apperr.InvalidParam("lines", "parameter_missing", "give lines (description, amount) or a total")
	}
	if len(in.Lines) > maxLines {
		return nil, decimal.Zero, apperr.InvalidParam("lines", "parameter_invalid", fmt.Sprintf("at most %d lines", maxLines))
	}
	var lines []parsedLine
	total := decimal.Zero
	for i, l := range in.Lines {
		param := fmt.Sprintf("lines[%d]", i)
		desc := strings.TrimSpace(l.Description)
		if desc == "" || len(desc) > 500 {
			return nil, decimal.Zero, apperr.InvalidParam(param+".description", "parameter_invalid", "a line needs a description (1 to 500 characters)")
		}
		amt, err := money.ParseAmount(l.Amount, currency)
		if err != nil {
			return nil, decimal.Zero, apperr.InvalidParam(param+".amount", "amount_invalid", err.Error())
		}
		lines = append(lines, parsedLine{Description: desc, amount: amt})
		total = total.Add(amt)
	}
	if total.GreaterThanOrEqual(money.MaxAmount) {
		return nil, decimal.Zero, apperr.InvalidParam("lines", "amount_too_large", "the total must be less than "+money.MaxAmount.String())
	}
	if in.Total != nil {
		t, err := money.ParseAmount(*in.Total, currency)
		if err != nil {
			return nil, decimal.Zero, apperr.InvalidParam("total", "amount_invalid", err.Error())
		}
		if t.GreaterThanOrEqual(money.MaxAmount) {
			return nil, decimal.Zero, apperr.InvalidParam("total", "amount_too_large", "total must be less than "+money.MaxAmount.String())
		}
		if len(lines) == 0 {
			lines = []parsedLine{{Description: "Invoice", amount: t}}
			total = t
		} else if !t.Equal(total) {
			return nil, decimal.Zero, apperr.InvalidParam("total", "total_mismatch", fmt.Sprintf("total %s is not the sum of the lines (%s)", *in.Total, money.Format(total, currency)))
		}
	}
	if !total.IsPositive() {
		return nil, decimal.Zero, apperr.InvalidParam("total", "amount_invalid", "an invoice to collect must have a positive total")
	}
	return lines, total, nil
}

// pickMethod returns the invoice's payment method: the requested one; with none given,
// the type of the customer's default payment method (an errored default still names the
// customer's choice: the invoice waits for a working one of that type); with no default,
// card if the customer has an active card, else direct_debit if it has an active mandate,
// else card. An automated invoice is never
// turned into a bank transfer because no card exists yet: it waits in awaiting_action for
// one, and a card saved later charges it at once.
func (s *Service) pickMethod(ctx context.Context, q *store.Queries, requested *string, customerID string) (string, error) {
	if requested != nil {
		switch *requested {
		case "card", "direct_debit", "bank_transfer":
			return *requested, nil
		}
		return "", apperr.InvalidParam("payment_method", "parameter_invalid", "payment_method must be card, direct_debit or bank_transfer")
	}
	pm, err := q.GetDefaultPaymentMethod(ctx, customerID)
	if err == nil {
		return pm.Type, nil
	}
	if !store.IsNoRows(err) {
		return "", fmt.Errorf("default payment method: %w", err)
	}
	for _, typ := range []string{"card", "direct_debit"} {
		_, err := q.ChargeablePaymentMethod(ctx, store.ChargeablePaymentMethodParams{CustomerID: customerID, Type: typ})
		if err == nil {
			return typ, nil
		}
		if !store.IsNoRows(err) {
			return "", fmt.Errorf("payment method: %w", err)
		}
	}
	return "card", nil
}

// MarkCollectionStarted records that the invoice's payment workflow is started, so the
// sweeper leaves it alone.
func (s *Service) MarkCollectionStarted(ctx context.Context, id string) error {
	if err := store.New(s.pool).MarkCollectionStarted(ctx, id); err != nil {
		return fmt.Errorf("mark collection started: %w", err)
	}
	return nil
}

// Unstarted returns collectable invoices whose payment workflow is not known to have
// started and that are older than grace (their own request may still be starting them).
func (s *Service) Unstarted(ctx context.Context, grace time.Duration, limit int) ([]Invoice, error) {
	rows, err := store.New(s.pool).ListUnstartedInvoices(ctx, store.ListUnstartedInvoicesParams{
		GraceSeconds: grace.Seconds(), MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list unstarted invoices: %w", err)
	}
	out := make([]Invoice, 0, len(rows))
	for _, r := range rows {
		out = append(out, Invoice{ID: r.ID, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID,
			Currency: r.Currency, Total: money.Format(r.Total, r.Currency), PaymentMethod: r.PaymentMethod, Status: r.Status})
	}
	return out, nil
}

// ReactivatedSubscriptionInvoice is an open invoice of a subscription reactivated lately.
type ReactivatedSubscriptionInvoice struct {
	InvoiceID      string
	SubscriptionID string
}

// RecentlyReactivated lists open invoices of subscriptions that are active again after a
// reactivation between since and grace ago.
func (s *Service) RecentlyReactivated(ctx context.Context, since time.Time, grace time.Duration, limit int) ([]ReactivatedSubscriptionInvoice, error) {
	rows, err := store.New(s.pool).ListRecentlyReactivatedSubscriptionInvoices(ctx, store.ListRecentlyReactivatedSubscriptionInvoicesParams{
		Since: since, GraceSeconds: grace.Seconds(), MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list invoices of reactivated subscriptions: %w", err)
	}
	out := make([]ReactivatedSubscriptionInvoice, 0, len(rows))
	for _, r := range rows {
		out = append(out, ReactivatedSubscriptionInvoice{InvoiceID: r.InvoiceID, SubscriptionID: r.SubscriptionID})
	}
	return out, nil
}

// ChargeableWith lists the customer's open card and direct-debit invoices that an
// automatic charge would now take from the payment method paymentMethodID.
func (s *Service) ChargeableWith(ctx context.Context, customerID, paymentMethodID string) ([]string, error) {
	ids, err := store.New(s.pool).ListOpenInvoicesChargeableWith(ctx, store.ListOpenInvoicesChargeableWithParams{
		CustomerID: customerID, PaymentMethodID: paymentMethodID})
	if err != nil {
		return nil, fmt.Errorf("open invoices chargeable with %s: %w", paymentMethodID, err)
	}
	return ids, nil
}

// RecordPaymentMethodTold records that the invoice's workflow was told of the payment
// method (the sweeper does not tell it again).
func (s *Service) RecordPaymentMethodTold(ctx context.Context, invoiceID, paymentMethodID string) error {
	if err := store.New(s.pool).RecordPaymentMethodWakeup(ctx, store.RecordPaymentMethodWakeupParams{
		InvoiceID: invoiceID, PaymentMethodID: paymentMethodID}); err != nil {
		return fmt.Errorf("record payment method told: %w", err)
	}
	return nil
}

// MissedPaymentMethod is an open invoice whose workflow may have missed the signal of a
// new default payment method (PaymentMethodID).
type MissedPaymentMethod struct {
	InvoiceID       string
	PaymentMethodID string
}

// MissedPaymentMethods lists open card and direct-debit invoices whose workflow was not
// told of the payment method a charge of theirs would now use, saved after their last
// failed charge (or the invoice) and more than grace ago.
func (s *Service) MissedPaymentMethods(ctx context.Context, grace time.Duration, limit int) ([]MissedPaymentMethod, error) {
	rows, err := store.New(s.pool).ListInvoicesMissingNewPaymentMethod(ctx, store.ListInvoicesMissingNewPaymentMethodParams{
		GraceSeconds: grace.Seconds(), MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list invoices missing a payment method: %w", err)
	}
	out := make([]MissedPaymentMethod, 0, len(rows))
	for _, r := range rows {
		out = append(out, MissedPaymentMethod{InvoiceID: r.InvoiceID, PaymentMethodID: r.PaymentMethodID})
	}
	return out, nil
}

// ReconcileBody is the body of POST /v1/invoices/{id}/reconcile.
type ReconcileBody struct {
	Amount    string     `json:"amount"`
	Reference string     `json:"reference"`
	PaidAt    *time.Time `json:"paid_at"`
	// Method is bank_transfer (default) or manual.
	Method *string `json:"method"`
}

// ValidateReconcile checks a reconciliation against the invoice: a positive amount with
// the currency's decimals, a reference, a payment date not in the future. An omitted
// paid_at is set to now (in b).
func (s *Service) ValidateReconcile(ctx context.Context, invoiceID string, b *ReconcileBody) (amount decimal.Decimal, method string, err error) {
	inv, err := s.Get(ctx, invoiceID)
	if err != nil {
		return decimal.Zero, "", err
	}
	amount, err = money.ParseAmount(b.Amount, inv.Currency)
	if err != nil || !amount.IsPositive() {
		return decimal.Zero, "", apperr.InvalidParam("amount", "amount_invalid", fmt.Sprintf("amount must be a positive decimal string with at most the decimals of %s", inv.Currency))
	}
	if ref := strings.TrimSpace(b.Reference); ref == "" || len(ref) > 200 {
		return decimal.Zero, "", apperr.InvalidParam("reference", "parameter_invalid", "reference is required (1 to 200 characters), e.g. the bank transfer's reference")
	}
	if b.PaidAt == nil {
		now := s.Now().UTC()
		b.PaidAt = &now
	}
	if b.PaidAt.After(s.Now().Add(24 * time.Hour)) {
		return decimal.Zero, "", apperr.InvalidParam("paid_at", "parameter_invalid", "paid_at is in the future")
	}
	// A reference counts once per invoice: sent again with the same amount it is the same
	// reconciliation (its first outcome); with another amount it is a mistake.
	ref := strings.TrimSpace(b.Reference)
	if prev, err := store.New(s.pool).GetReconciliationByReference(ctx, store.GetReconciliationByReferenceParams{InvoiceID: invoiceID, Reference: &ref}); err == nil && !prev.Amount.Equal(amount) {
		return decimal.Zero, "", referenceReconciled(ref, prev.Amount, inv.Currency)
	} else if err != nil && !store.IsNoRows(err) {
		return decimal.Zero, "", fmt.Errorf("get reconciliation: %w", err)
	}
	method = "bank_transfer"
	if b.Method != nil {
		// card_on_session is a card payment the customer authenticated in the portal (the
		// portal sends it, with the provider's payment id as the reference).
		if *b.Method != "bank_transfer" && *b.Method != "manual" && *b.Method != MethodCardOnSession {
			return decimal.Zero, "", apperr.InvalidParam("method", "parameter_invalid", "method must be bank_transfer, manual or card_on_session")
		}
		method = *b.Method
	}
	return amount, method, nil
}
