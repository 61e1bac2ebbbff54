// Package subscriptions holds the merchant's recurring subscriptions (a fee per period in
// the customer's currency) and the usage recorded against them. The wallet's projected
// balance reads both; invoicing and the errored/reactivate/cancel cycle build on them.
package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"payorch/apperr"
	"payorch/idempotency"
	"payorch/ids"
	"payorch/ledger"
	"payorch/money"
	"payorch/outbox"
	"payorch/store"
)

// Subscription statuses.
const (
	StatusActive    = "active"
	StatusErrored   = "errored"
	StatusPaused    = "paused"
	StatusCancelled = "cancelled"
)

// Statuses lists every subscription status (the list filter accepts these only).
var Statuses = []string{StatusActive, StatusErrored, StatusPaused, StatusCancelled}

// Subscription is a recurring fee, as the API returns it.
type Subscription struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	CustomerID string  `json:"customer_id"`
	ExternalID *string `json:"external_id"`
	Currency   string  `json:"currency"`
	// Amount is the recurring fee per period (decimal string).
	Amount string `json:"amount"`
	// Status is active, errored, paused or cancelled.
	Status             string     `json:"status"`
	CurrentPeriodStart time.Time  `json:"current_period_start"`
	CurrentPeriodEnd   time.Time  `json:"current_period_end"`
	ErroredAt          *time.Time `json:"errored_at"`
	CancelledAt        *time.Time `json:"cancelled_at"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// UsageRecord is usage billed with a subscription, as the API returns it.
type UsageRecord struct {
	ID             string    `json:"id"`
	Object         string    `json:"object"`
	SubscriptionID string    `json:"subscription_id"`
	Amount         string    `json:"amount"`
	Currency       string    `json:"currency"`
	Description    string    `json:"description"`
	OccurredAt     time.Time `json:"occurred_at"`
	// InvoiceID is set once an invoice bills this usage.
	InvoiceID *string   `json:"invoice_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Service reads and writes subscriptions and usage.
type Service struct {
	pool *pgxpool.Pool
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service { return &Service{pool: pool} }

// CreateInput is the body of POST /v1/subscriptions. Periods are RFC 3339 timestamps.
type CreateInput struct {
	CustomerID         string  `json:"customer_id"`
	Amount             string  `json:"amount"`
	CurrentPeriodStart string  `json:"current_period_start"`
	CurrentPeriodEnd   string  `json:"current_period_end"`
	ExternalID         *string `json:"external_id"`
}

// Create validates and stores an active subscription in the customer's currency.
func (s *Service) Create(ctx context.Context, in CreateInput) (Subscription, error) {
	if in.CustomerID == "" {
		return Subscription{}, apperr.InvalidParam("customer_id", "parameter_missing", "customer_id is required")
	}
	start, err := parseTime("current_period_start", in.CurrentPeriodStart)
	if err != nil {
		return Subscription{}, err
	}
	end, err := parseTime("current_period_end", in.CurrentPeriodEnd)
	if err != nil {
		return Subscription{}, err
	}
	if !end.After(start) {
		return Subscription{}, apperr.InvalidParam("current_period_end", "parameter_invalid", "current_period_end must be after current_period_start")
	}
	if in.ExternalID != nil && (*in.ExternalID == "" || len(*in.ExternalID) > 255) {
		return Subscription{}, apperr.InvalidParam("external_id", "parameter_invalid", "external_id must be 1 to 255 characters")
	}
	q := store.New(s.pool)
	cust, err := q.GetCustomer(ctx, in.CustomerID)
	if store.IsNoRows(err) {
		return Subscription{}, &apperr.Error{Kind: apperr.NotFound, Code: "resource_missing", Param: "customer_id",
			Message: fmt.Sprintf("no customer with id %q", in.CustomerID)}
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("get customer: %w", err)
	}
	amount, err := money.ParseAmountParam(in.Amount, cust.Currency, true)
	if err != nil {
		return Subscription{}, err
	}
	var out Subscription
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A subscription is invoiced: a rerun of the request that made it (its answer
		// lost) gets that one, never a second.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (Subscription, error) {
			row, err := q.GetSubscription(ctx, id)
			return View(row), err
		})
		if err != nil || found {
			out = prev
			return err
		}
		row, err := q.CreateSubscription(ctx, store.CreateSubscriptionParams{
			ID: ids.New(ids.Subscription), CustomerID: cust.ID, ExternalID: in.ExternalID, Currency: cust.Currency,
			Amount: amount, CurrentPeriodStart: start, CurrentPeriodEnd: end,
		})
		if store.IsUniqueViolation(err, "subscriptions_external_id_key") {
			e := apperr.Exists("external_id_taken", fmt.Sprintf("a subscription with external_id %q already exists", *in.ExternalID), "")
			// The transaction is aborted; the holder is read outside it.
			if prev, err := store.New(s.pool).GetSubscriptionByExternalID(ctx, in.ExternalID); err == nil {
				e.ExistingID = prev.ID
			}
			return e
		}
		if err != nil {
			return fmt.Errorf("create subscription: %w", err)
		}
		// Its fee lowers the customer's projected balance: the low-balance alert looks.
		if err := ledger.New(s.pool).CheckBalanceAlertTx(ctx, q, cust.ID); err != nil {
			return err
		}
		out = View(row)
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

// Get returns a subscription by id.
func (s *Service) Get(ctx context.Context, id string) (Subscription, error) {
	row, err := store.New(s.pool).GetSubscription(ctx, id)
	if store.IsNoRows(err) {
		return Subscription{}, apperr.NotFoundf("subscription", id)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription: %w", err)
	}
	return View(row), nil
}

// ListParams filters and pages a subscription list (newest first).
type ListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor: only subscriptions older than it.
	BeforeSeq *int64
	// CustomerID filters on one customer.
	CustomerID *string
	// ExternalID filters on the merchant's own id.
	ExternalID *string
	// Status filters on one of Statuses (400 for any other).
	Status *string
}

// List returns a page of subscriptions, newest first, and the cursor of the next page.
func (s *Service) List(ctx context.Context, p ListParams) ([]Subscription, *int64, error) {
	if p.Status != nil && !slices.Contains(Statuses, *p.Status) {
		return nil, nil, apperr.InvalidParam("status", "parameter_invalid", "status must be one of "+strings.Join(Statuses, ", "))
	}
	rows, err := store.New(s.pool).ListSubscriptions(ctx, store.ListSubscriptionsParams{
		CustomerID: p.CustomerID, ExternalID: p.ExternalID, Status: p.Status, BeforeSeq: p.BeforeSeq, Lim: p.Limit + 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list subscriptions: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Subscription) int64 { return r.Seq }, View)
	return out, next, nil
}

// UsageInput is the body of POST /v1/subscriptions/{id}/usage (occurred_at defaults to
// now).
type UsageInput struct {
	Amount      string `json:"amount"`
	Description string `json:"description"`
	OccurredAt  string `json:"occurred_at"`
}

// RecordUsage stores usage against a subscription, in its currency. A cancelled
// subscription takes no more usage (422 subscription_cancelled).
func (s *Service) RecordUsage(ctx context.Context, subscriptionID string, in UsageInput) (UsageRecord, error) {
	q0 := store.New(s.pool)
	sub, err := q0.GetSubscription(ctx, subscriptionID)
	if store.IsNoRows(err) {
		return UsageRecord{}, apperr.NotFoundf("subscription", subscriptionID)
	}
	if err != nil {
		return UsageRecord{}, fmt.Errorf("get subscription: %w", err)
	}
	amount, err := money.ParseAmountParam(in.Amount, sub.Currency, false)
	if err != nil {
		return UsageRecord{}, err
	}
	desc := strings.TrimSpace(in.Description)
	if desc == "" || len(desc) > 500 {
		return UsageRecord{}, apperr.InvalidParam("description", "parameter_invalid", "description is required (1 to 500 characters)")
	}
	at := time.Now().UTC()
	if in.OccurredAt != "" {
		if at, err = parseTime("occurred_at", in.OccurredAt); err != nil {
			return UsageRecord{}, err
		}
	}
	if sub.Status == StatusCancelled {
		return UsageRecord{}, apperr.New(apperr.Rule, "subscription_cancelled", "subscription "+sub.ID+" is cancelled and takes no more usage")
	}
	view := func(row store.UsageRecord) UsageRecord { return usageView(row, sub.Currency) }
	var out UsageRecord
	err = store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// Usage is billed: a rerun of the request that recorded it (its answer lost) gets
		// that record, never a second one.
		prev, found, err := idempotency.Reuse(ctx, q, func(id string) (UsageRecord, error) {
			row, err := q.GetUsageRecord(ctx, id)
			return view(row), err
		})
		if err != nil || found {
			out = prev
			return err
		}
		row, err := q.CreateUsageRecord(ctx, store.CreateUsageRecordParams{
			ID: ids.New(ids.Usage), SubscriptionID: sub.ID, Amount: amount, Description: desc, OccurredAt: at,
		})
		if err != nil {
			return fmt.Errorf("create usage record: %w", err)
		}
		// Usage lowers the customer's projected balance: the low-balance alert looks.
		if err := ledger.New(s.pool).CheckBalanceAlertTx(ctx, q, sub.CustomerID); err != nil {
			return err
		}
		out = view(row)
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

func usageView(row store.UsageRecord, currency string) UsageRecord {
	return UsageRecord{
		ID: row.ID, Object: "usage_record", SubscriptionID: row.SubscriptionID,
		Amount: money.Format(row.Amount, currency), Currency: currency, Description: row.Description,
		OccurredAt: row.OccurredAt.UTC(), InvoiceID: row.InvoiceID, CreatedAt: row.CreatedAt.UTC(),
	}
}

// UsageListParams pages a subscription's usage (newest first).
type UsageListParams struct {
	// Limit is the page size (1..100).
	Limit int32
	// BeforeSeq is the cursor: only records older than it.
	BeforeSeq *int64
}

// ListUsage returns a page of a subscription's usage records, newest first (invoice_id
// says which are billed), and the cursor of the next page.
func (s *Service) ListUsage(ctx context.Context, subscriptionID string, p UsageListParams) ([]UsageRecord, *int64, error) {
	sub, err := s.Get(ctx, subscriptionID)
	if err != nil {
		return nil, nil, err
	}
	rows, err := store.New(s.pool).ListUsageRecords(ctx, store.ListUsageRecordsParams{SubscriptionID: sub.ID, BeforeSeq: p.BeforeSeq, Lim: p.Limit + 1})
	if err != nil {
		return nil, nil, fmt.Errorf("list usage: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.UsageRecord) int64 { return r.Seq }, func(r store.UsageRecord) UsageRecord { return usageView(r, sub.Currency) })
	return out, next, nil
}

// Renew is the renewal rule, run with q inside the transaction that creates a
// subscription's invoice for [start, end): when that period starts at or after the current
// period ends (the invoice of the next period), it becomes the current period, so the
// projected balance speaks of it. An invoice for the current or an earlier period changes
// nothing. It reports whether the period moved.
func Renew(ctx context.Context, q *store.Queries, subscriptionID string, start, end time.Time) (bool, error) {
	n, err := q.RenewSubscriptionPeriod(ctx, store.RenewSubscriptionPeriodParams{ID: subscriptionID, PeriodStart: start, PeriodEnd: end})
	if err != nil {
		return false, fmt.Errorf("renew subscription: %w", err)
	}
	return n == 1, nil
}

// Reactivate puts an errored subscription back in service (subscription.reactivated): it
// is invoiced and collected again; the invoice that errored stays unpaid and keeps
// waiting for a manual retry, a new payment method or a reconciliation. Only an errored
// subscription can be reactivated (409 subscription_not_errored otherwise).
func (s *Service) Reactivate(ctx context.Context, id string) (Subscription, error) {
	return s.transition(ctx, id, outbox.SubscriptionReactivated, func(q *store.Queries, cur store.Subscription) (store.Subscription, error) {
		if cur.Status != StatusErrored {
			return store.Subscription{}, apperr.New(apperr.Conflict, "subscription_not_errored",
				fmt.Sprintf("subscription %s is %s: only an errored subscription can be reactivated", cur.ID, cur.Status))
		}
		return q.ReactivateSubscription(ctx, cur.ID)
	})
}

// Cancel ends a subscription (subscription.cancelled): no more invoices or usage. Its
// unpaid invoices are not voided (void them one by one if they should not be collected).
// A cancelled subscription cannot be cancelled again (409 subscription_cancelled).
func (s *Service) Cancel(ctx context.Context, id string) (Subscription, error) {
	return s.transition(ctx, id, outbox.SubscriptionCancelled, func(q *store.Queries, cur store.Subscription) (store.Subscription, error) {
		if cur.Status == StatusCancelled {
			return store.Subscription{}, apperr.New(apperr.Conflict, "subscription_cancelled",
				fmt.Sprintf("subscription %s is already cancelled", cur.ID))
		}
		return q.CancelSubscription(ctx, cur.ID)
	})
}

// transition changes a subscription's status with the row locked and writes the event in
// the same transaction.
func (s *Service) transition(ctx context.Context, id, event string,
	change func(*store.Queries, store.Subscription) (store.Subscription, error)) (Subscription, error) {
	var out Subscription
	err := store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		// A rerun of the request that made this transition (its answer was lost, or it
		// answered 202) finds it made: the subscription as it is, not a conflict.
		done, err := idempotency.Existing(ctx, q)
		if err != nil {
			return err
		}
		cur, err := q.LockSubscription(ctx, id)
		if store.IsNoRows(err) {
			return apperr.NotFoundf("subscription", id)
		}
		if err != nil {
			return fmt.Errorf("lock subscription: %w", err)
		}
		if done == id {
			out = View(cur)
			return nil
		}
		row, err := change(q, cur)
		if err != nil {
			var ae *apperr.Error
			if errors.As(err, &ae) {
				return err
			}
			return fmt.Errorf("%s: %w", event, err)
		}
		out = View(row)
		if _, err := outbox.Emit(ctx, q, outbox.Event{Type: event, ResourceType: "subscription", ResourceID: row.ID,
			CustomerID: row.CustomerID, Data: out}); err != nil {
			return err
		}
		return idempotency.Bind(ctx, q, row.ID, out)
	})
	return out, err
}

func parseTime(param, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, apperr.InvalidParam(param, "parameter_missing", param+" is required (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, apperr.InvalidParam(param, "parameter_invalid", param+" must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z")
	}
	return t.UTC(), nil
}

// View is a subscription row as the API (and every subscription.* event) shows it.
func View(r store.Subscription) Subscription {
	return Subscription{
		ID: r.ID, Object: "subscription", CustomerID: r.CustomerID, ExternalID: r.ExternalID, Currency: r.Currency,
		Amount: money.Format(r.Amount, r.Currency), Status: r.Status,
		CurrentPeriodStart: r.CurrentPeriodStart.UTC(), CurrentPeriodEnd: r.CurrentPeriodEnd.UTC(),
		ErroredAt: utc(r.ErroredAt), CancelledAt: utc(r.CancelledAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
