// Package invoices holds invoices and their payment transactions: creation and reads for
// the API, and the state changes the payment workflow's activities make — each one a
// single database transaction that writes its outbox events with it, guarded by
// conditional updates so a repeated call changes nothing twice.
package invoices

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"payorch/apperr"
	"payorch/money"
	"payorch/store"
)

// Invoice statuses.
const (
	StatusToPay  = "to_pay"
	StatusPaid   = "paid"
	StatusError  = "error"
	StatusVoided = "voided"
)

// Statuses are all the statuses an invoice can have, the values of the list filter.
var Statuses = []string{StatusToPay, StatusPaid, StatusError, StatusVoided}

// Invoice is an invoice as the API returns it.
type Invoice struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	// Number is the human-readable, gap-free number (INV-2026-000042) people see.
	Number         string     `json:"number"`
	CustomerID     string     `json:"customer_id"`
	SubscriptionID *string    `json:"subscription_id"`
	ExternalID     *string    `json:"external_id"`
	Kind           string     `json:"kind"`
	Currency       string     `json:"currency"`
	Status         string     `json:"status"`
	PaymentMethod  string     `json:"payment_method"`
	Total          string     `json:"total"`
	AmountPaid     string     `json:"amount_paid"`
	AmountDue      string     `json:"amount_due"`
	PeriodStart    *time.Time `json:"period_start"`
	PeriodEnd      *time.Time `json:"period_end"`
	AttemptCount   int32      `json:"attempt_count"`
	NextRetryAt    *time.Time `json:"next_retry_at"`
	PaidAt         *time.Time `json:"paid_at"`
	ErroredAt      *time.Time `json:"errored_at"`
	VoidedAt       *time.Time `json:"voided_at"`
	// VoidReason is why the invoice was voided, as the void request gave it.
	VoidReason   *string       `json:"void_reason"`
	Lines        []Line        `json:"lines"`
	Transactions []Transaction `json:"transactions"`
	// BankTransfer is where to pay when the payment provider takes the invoice's bank
	// transfer (null otherwise, and in lists).
	BankTransfer *BankTransfer `json:"bank_transfer"`
	CreatedAt    time.Time     `json:"created_at"`
}

// Line is one invoice line.
type Line struct {
	Description string `json:"description"`
	Amount      string `json:"amount"`
}

// Transaction is one payment attempt or payment source of an invoice.
type Transaction struct {
	ID        string  `json:"id"`
	Attempt   int32   `json:"attempt"`
	Method    string  `json:"method"`
	Amount    string  `json:"amount"`
	Currency  string  `json:"currency"`
	Status    string  `json:"status"`
	ErrorType *string `json:"error_type"`
	// HardDecline is the policy's verdict on a failure (package declines): retrying the
	// same payment method is pointless until the customer replaces it.
	HardDecline       bool       `json:"hard_decline"`
	ProviderCode      *string    `json:"provider_code"`
	DeclineCode       *string    `json:"decline_code"`
	ProviderMessage   *string    `json:"provider_message"`
	ProviderReference *string    `json:"provider_reference"`
	PaymentMethodID   *string    `json:"payment_method_id"`
	Reference         *string    `json:"reference"`
	PaidAt            *time.Time `json:"paid_at"`
	CreatedAt         time.Time  `json:"created_at"`
}

// Service reads and changes invoices.
type Service struct {
	pool *pgxpool.Pool
	// Now is the clock (time.Now in production).
	Now func() time.Time
	// ProviderBankTransfers is true when the payment provider takes bank transfers:
	// BeginAttempt then leaves the instructions email to the caller, who asks the
	// provider for its account first (BankTransferRequest, RecordBankTransfer).
	ProviderBankTransfers bool
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service { return &Service{pool: pool, Now: time.Now} }

// Get returns an invoice with its lines and transactions.
func (s *Service) Get(ctx context.Context, id string) (Invoice, error) {
	return load(ctx, store.New(s.pool), id)
}

// lockInvoice locks an invoice's row for the rest of the transaction q (not found: a typed
// 404).
func lockInvoice(ctx context.Context, q *store.Queries, id string) (store.Invoice, error) {
	inv, err := q.LockInvoice(ctx, id)
	if store.IsNoRows(err) {
		return store.Invoice{}, notFound(id)
	}
	if err != nil {
		return store.Invoice{}, fmt.Errorf("lock invoice: %w", err)
	}
	return inv, nil
}

func load(ctx context.Context, q *store.Queries, id string) (Invoice, error) {
	row, err := q.GetInvoice(ctx, id)
	if store.IsNoRows(err) {
		return Invoice{}, notFound(id)
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("get invoice: %w", err)
	}
	return view(ctx, q, row)
}

func view(ctx context.Context, q *store.Queries, row store.Invoice) (Invoice, error) {
	lines, err := q.ListInvoiceLines(ctx, row.ID)
	if err != nil {
		return Invoice{}, fmt.Errorf("invoice lines: %w", err)
	}
	txns, err := q.ListInvoiceTransactions(ctx, row.ID)
	if err != nil {
		return Invoice{}, fmt.Errorf("invoice transactions: %w", err)
	}
	inv := fromRow(row)
	inv.Lines = make([]Line, len(lines))
	for i, l := range lines {
		inv.Lines[i] = Line{Description: l.Description, Amount: money.Format(l.Amount, row.Currency)}
	}
	inv.Transactions = make([]Transaction, len(txns))
	for i, t := range txns {
		inv.Transactions[i] = TransactionFromRow(t)
	}
	if row.PaymentMethod == "bank_transfer" {
		if inv.BankTransfer, err = bankTransferView(ctx, q, row.ID); err != nil {
			return Invoice{}, err
		}
	}
	return inv, nil
}

func fromRow(r store.Invoice) Invoice {
	due := r.Total.Sub(r.AmountPaid)
	return Invoice{
		ID: r.ID, Object: "invoice", Number: r.Number, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID,
		ExternalID: r.ExternalID, Kind: r.Kind, Currency: r.Currency, Status: r.Status,
		PaymentMethod: r.PaymentMethod, Total: money.Format(r.Total, r.Currency),
		AmountPaid: money.Format(r.AmountPaid, r.Currency), AmountDue: money.Format(due, r.Currency),
		PeriodStart: utc(r.PeriodStart), PeriodEnd: utc(r.PeriodEnd), AttemptCount: r.AttemptCount,
		NextRetryAt: utc(r.NextRetryAt), PaidAt: utc(r.PaidAt), ErroredAt: utc(r.ErroredAt),
		VoidedAt: utc(r.VoidedAt), VoidReason: r.VoidReason, Lines: []Line{}, Transactions: []Transaction{}, CreatedAt: r.CreatedAt.UTC(),
	}
}

// TransactionFromRow maps a transaction row to its API view.
func TransactionFromRow(t store.InvoiceTransaction) Transaction {
	return Transaction{
		ID: t.ID, Attempt: t.Attempt, Method: t.Method, Amount: money.Format(t.Amount, t.Currency),
		Currency: t.Currency, Status: t.Status, ErrorType: t.ErrorType, HardDecline: t.HardDecline, ProviderCode: t.ProviderCode,
		DeclineCode: t.DeclineCode, ProviderMessage: t.ProviderMessage, ProviderReference: t.ProviderReference,
		PaymentMethodID: t.PaymentMethodID, Reference: t.Reference, PaidAt: utc(t.PaidAt), CreatedAt: t.CreatedAt.UTC(),
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ListParams filters a list of invoices (newest first).
type ListParams struct {
	Limit          int32
	BeforeSeq      *int64
	CustomerID     *string
	SubscriptionID *string
	Status         *string
	// ExternalID filters on the merchant's own id.
	ExternalID *string
	// CreatedFrom and CreatedTo bound created_at: from inclusive, to exclusive.
	CreatedFrom, CreatedTo *time.Time
}

// List returns a page of invoices (without lines and transactions) and the next cursor.
func (s *Service) List(ctx context.Context, p ListParams) ([]Invoice, *int64, error) {
	if p.Status != nil && !slices.Contains(Statuses, *p.Status) {
		return nil, nil, apperr.InvalidParam("status", "parameter_invalid", "status must be one of "+strings.Join(Statuses, ", "))
	}
	if p.CreatedFrom != nil && p.CreatedTo != nil && !p.CreatedFrom.Before(*p.CreatedTo) {
		return nil, nil, apperr.InvalidParam("created_to", "parameter_invalid", "created_to must be after created_from")
	}
	rows, err := store.New(s.pool).ListInvoices(ctx, store.ListInvoicesParams{
		Limit: p.Limit + 1, CustomerID: p.CustomerID, Status: p.Status, SubscriptionID: p.SubscriptionID, BeforeSeq: p.BeforeSeq,
		ExternalID: p.ExternalID, CreatedFrom: p.CreatedFrom, CreatedTo: p.CreatedTo,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list invoices: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Invoice) int64 { return r.Seq }, fromRow)
	return out, next, nil
}

// OpenSubscriptionInvoiceIDs lists a subscription's unpaid standard invoices (to_pay or error).
func (s *Service) OpenSubscriptionInvoiceIDs(ctx context.Context, subscriptionID string) ([]string, error) {
	ids, err := store.New(s.pool).ListOpenInvoiceIDsForSubscription(ctx, &subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("open invoices of subscription: %w", err)
	}
	return ids, nil
}

// amountDue is total - amount_paid of a row.
func amountDue(r store.Invoice) decimal.Decimal { return r.Total.Sub(r.AmountPaid) }
