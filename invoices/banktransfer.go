package invoices

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"payorch/ids"
	"payorch/money"
	"payorch/payments"
	"payorch/store"
)

// BankTransfer is where the customer pays a bank-transfer invoice when the payment
// provider takes the transfer (GET /v1/invoices/{id} "bank_transfer"; null when the
// merchant's own account is used and the invoice is reconciled by hand).
type BankTransfer struct {
	// Provider names the provider ("stripe", "simulated").
	Provider string `json:"provider"`
	// ProviderReference is the provider's id of the funding (Stripe PaymentIntent "pi_…",
	// simulated "sbt_…").
	ProviderReference string `json:"provider_reference"`
	// Type is the transfer type ("eu_bank_transfer", "gb_bank_transfer", "us_bank_transfer").
	Type string `json:"type"`
	// Amount is what was asked for when the instructions were made (the amount then due).
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// Reference is what the customer must write on the transfer.
	Reference     string  `json:"reference"`
	AccountHolder *string `json:"account_holder"`
	IBAN          *string `json:"iban"`
	BIC           *string `json:"bic"`
	SortCode      *string `json:"sort_code"`
	AccountNumber *string `json:"account_number"`
	RoutingNumber *string `json:"routing_number"`
	BankName      *string `json:"bank_name"`
	// HostedInstructionsURL is the provider's page showing the instructions.
	HostedInstructionsURL *string   `json:"hosted_instructions_url"`
	CreatedAt             time.Time `json:"created_at"`
}

// EmailInstructions are the account and reference of a bank-transfer email when the
// provider takes the transfer (the mailer's BankInstructions).
type EmailInstructions struct {
	AccountHolder string `json:"account_holder,omitempty"`
	IBAN          string `json:"iban,omitempty"`
	BIC           string `json:"bic,omitempty"`
	BankName      string `json:"bank_name,omitempty"`
	SortCode      string `json:"sort_code,omitempty"`
	AccountNumber string `json:"account_number,omitempty"`
	RoutingNumber string `json:"routing_number,omitempty"`
	Reference     string `json:"reference,omitempty"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// bankTransferView reads an invoice's provider bank transfer (nil when it has none).
func bankTransferView(ctx context.Context, q *store.Queries, invoiceID string) (*BankTransfer, error) {
	row, err := q.GetInvoiceBankTransfer(ctx, invoiceID)
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("invoice bank transfer: %w", err)
	}
	var ins payments.BankTransferInstructions
	if err := json.Unmarshal(row.Instructions, &ins); err != nil {
		return nil, fmt.Errorf("invoice bank transfer instructions: %w", err)
	}
	return &BankTransfer{
		Provider: row.Provider, ProviderReference: row.ProviderReference, Type: ins.Type,
		Amount: money.Format(row.Amount, row.Currency), Currency: row.Currency, Reference: ins.Reference,
		AccountHolder: strPtr(ins.AccountHolder), IBAN: strPtr(ins.IBAN), BIC: strPtr(ins.BIC), SortCode: strPtr(ins.SortCode),
		AccountNumber: strPtr(ins.AccountNumber), RoutingNumber: strPtr(ins.RoutingNumber), BankName: strPtr(ins.BankName),
		HostedInstructionsURL: strPtr(ins.HostedInstructionsURL), CreatedAt: row.CreatedAt.UTC(),
	}, nil
}

// BankTransferIdempotencyKey is the provider idempotency key of an invoice's bank-transfer
// funding: one funding per invoice, whatever retries.
func BankTransferIdempotencyKey(invoiceID string) string { return invoiceID + ":bank_transfer" }

// BankTransferRequest returns what to ask the provider for an open bank-transfer invoice
// that has no provider funding yet (the amount due, the customer's provider ids); done is
// true when there is nothing to ask (already recorded, or nothing due, or closed).
func (s *Service) BankTransferRequest(ctx context.Context, invoiceID string) (req payments.BankTransferRequest, done bool, err error) {
	q := store.New(s.pool)
	if _, err := q.GetInvoiceBankTransfer(ctx, invoiceID); err == nil {
		return req, true, nil
	} else if !store.IsNoRows(err) {
		return req, false, fmt.Errorf("invoice bank transfer: %w", err)
	}
	inv, err := q.GetInvoice(ctx, invoiceID)
	if store.IsNoRows(err) {
		return req, false, notFound(invoiceID)
	}
	if err != nil {
		return req, false, fmt.Errorf("get invoice: %w", err)
	}
	if (inv.Status != StatusToPay && inv.Status != StatusError) || !amountDue(inv).IsPositive() {
		return req, true, nil
	}
	cust, err := q.GetCustomer(ctx, inv.CustomerID)
	if err != nil {
		return req, false, fmt.Errorf("get customer: %w", err)
	}
	req = payments.BankTransferRequest{
		IdempotencyKey: BankTransferIdempotencyKey(inv.ID), Amount: amountDue(inv), Currency: inv.Currency,
		Description: "Invoice " + inv.Number,
		Metadata:    map[string]string{"invoice_id": inv.ID, "customer_id": inv.CustomerID, "invoice_number": inv.Number},
	}
	if cust.ProviderCustomerID != nil {
		req.CustomerRef = *cust.ProviderCustomerID
	}
	pm, err := q.ChargeablePaymentMethod(ctx, store.ChargeablePaymentMethodParams{CustomerID: inv.CustomerID, Type: "bank_transfer"})
	switch {
	case err == nil:
		if pm.ProviderID != nil {
			req.PaymentMethodRef = *pm.ProviderID
		}
	case !store.IsNoRows(err):
		return req, false, fmt.Errorf("bank transfer payment method: %w", err)
	}
	return req, false, nil
}

// RecordBankTransfer stores the provider's funding of an invoice (the first one recorded
// stays) and queues, once per invoice, the email with the provider's account and
// reference, in one transaction (no email for a funding paid at once: ins.Funded).
func (s *Service) RecordBankTransfer(ctx context.Context, invoiceID string, ins payments.BankTransferInstructions) error {
	raw, err := json.Marshal(ins)
	if err != nil {
		return fmt.Errorf("bank transfer instructions: %w", err)
	}
	return store.InTx(ctx, s.pool, func(q *store.Queries, _ pgx.Tx) error {
		if _, err := lockInvoice(ctx, q, invoiceID); err != nil {
			return err
		}
		if _, err := q.InsertInvoiceBankTransfer(ctx, store.InsertInvoiceBankTransferParams{
			InvoiceID: invoiceID, Provider: ins.Provider, ProviderReference: ins.ProviderReference,
			Amount: ins.Amount, Currency: ins.Currency, Instructions: raw,
		}); err != nil {
			return fmt.Errorf("insert invoice bank transfer: %w", err)
		}
		if ins.Funded {
			return nil // paid at once: no instructions to send; the provider's event reconciles it
		}
		_, err := queueBankTransferEmailTx(ctx, q, invoiceID)
		return err
	})
}

// InvoiceIDForBankTransfer returns the invoice a provider's bank-transfer funding pays.
func (s *Service) InvoiceIDForBankTransfer(ctx context.Context, provider, reference string) (string, bool, error) {
	id, err := store.New(s.pool).InvoiceIDForBankTransfer(ctx, store.InvoiceIDForBankTransferParams{Provider: provider, ProviderReference: reference})
	if store.IsNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("invoice of bank transfer %s: %w", reference, err)
	}
	return id, true, nil
}

// FundingReference is the reference under which a provider's report that funding has
// received `received` in total is reconciled: "<funding>:received:<amount>". A report of
// the same total is the same reference, so it counts once.
func FundingReference(funding string, received decimal.Decimal, currency string) string {
	return fundingPrefix(funding) + "received:" + money.Format(received, currency)
}

func fundingPrefix(funding string) string { return funding + ":" }

// FundingUnapplied returns what a provider's funding has received (received, its running
// total) beyond what the invoice's reconciliations under that funding hold: money the
// provider took that no invoice records (zero when there is none).
func (s *Service) FundingUnapplied(ctx context.Context, invoiceID, funding string, received decimal.Decimal) (decimal.Decimal, error) {
	recorded, err := store.New(s.pool).SumFundingReconciliations(ctx, store.SumFundingReconciliationsParams{InvoiceID: invoiceID, Prefix: fundingPrefix(funding)})
	if err != nil {
		return decimal.Zero, fmt.Errorf("sum of funding reconciliations: %w", err)
	}
	if rest := received.Sub(recorded); rest.IsPositive() {
		return rest, nil
	}
	return decimal.Zero, nil
}

// reconcileFunding records what a provider's funding report adds: the reported running
// total less what the invoice already holds of transfer money — its reconciliations under
// that funding and the ones made by hand, which may be the same money an operator saw
// arrive before the report (so a hand reconciliation and the report never count it twice;
// money that truly came both ways is then under-recorded, for an operator to add) (under
// the invoice's row lock, so reports applied in any order, or twice, never count money
// twice), capped at the amount due — what the provider received beyond it stays the
// customer's at the provider. Nothing new to record returns the funding's last
// reconciliation.
func (s *Service) reconcileFunding(ctx context.Context, q *store.Queries, inv store.Invoice, key string, in ReconcileInput) (Transaction, error) {
	prefix := fundingPrefix(in.Funding)
	recorded, err := q.SumFundingReconciliations(ctx, store.SumFundingReconciliationsParams{InvoiceID: inv.ID, Prefix: prefix})
	if err != nil {
		return Transaction{}, fmt.Errorf("sum of funding reconciliations: %w", err)
	}
	add := in.Amount.Sub(recorded)
	if due := amountDue(inv); add.GreaterThan(due) {
		add = due
	}
	if !add.IsPositive() || (inv.Status != StatusToPay && inv.Status != StatusError) {
		last, err := q.LastFundingReconciliation(ctx, store.LastFundingReconciliationParams{InvoiceID: inv.ID, Prefix: prefix})
		if store.IsNoRows(err) {
			if inv.Status != StatusToPay && inv.Status != StatusError {
				return Transaction{}, &ClosedError{Status: inv.Status}
			}
			return Transaction{}, nil
		}
		if err != nil {
			return Transaction{}, fmt.Errorf("last funding reconciliation: %w", err)
		}
		return TransactionFromRow(last), nil
	}
	ref := FundingReference(in.Funding, in.Amount, inv.Currency)
	paidAt := in.PaidAt
	row, err := q.InsertInvoiceTransaction(ctx, store.InsertInvoiceTransactionParams{
		ID: ids.New(ids.Transaction), InvoiceID: inv.ID, Attempt: inv.AttemptCount, Method: "bank_transfer",
		Amount: add, Currency: inv.Currency, Status: "settled", IdempotencyKey: &key, Reference: &ref, PaidAt: &paidAt,
	})
	if err != nil {
		return Transaction{}, fmt.Errorf("insert funding reconciliation: %w", err)
	}
	if _, err := q.AddInvoiceAmountPaid(ctx, store.AddInvoiceAmountPaidParams{ID: inv.ID, Amount: add}); err != nil {
		return Transaction{}, fmt.Errorf("add amount paid: %w", err)
	}
	return TransactionFromRow(row), nil
}
