package ledger

import (
	"context"
	"fmt"

	"payorch/apperr"
	"payorch/money"
	"payorch/store"
)

// DocumentListParams filter and page the lists of receipts and credit notes.
type DocumentListParams struct {
	// CustomerID keeps one customer's documents (nil: all).
	CustomerID *string
	Limit      int32
	BeforeSeq  *int64
}

// ListReceipts returns receipts of paid loads, newest first, and the next page's cursor.
func (l *Ledger) ListReceipts(ctx context.Context, p DocumentListParams) ([]Receipt, *int64, error) {
	rows, err := store.New(l.pool).ListReceipts(ctx, store.ListReceiptsParams{
		CustomerID: p.CustomerID, BeforeSeq: p.BeforeSeq, MaxRows: p.Limit + 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list receipts: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.Receipt) int64 { return r.Seq }, receiptView)
	return out, next, nil
}

// GetReceipt returns a receipt; with customerID set, only that customer's (404 otherwise).
func (l *Ledger) GetReceipt(ctx context.Context, id string, customerID *string) (Receipt, error) {
	r, err := store.New(l.pool).GetReceipt(ctx, id)
	if store.IsNoRows(err) || (err == nil && customerID != nil && r.CustomerID != *customerID) {
		return Receipt{}, apperr.NotFoundf("receipt", id)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("get receipt: %w", err)
	}
	return receiptView(r), nil
}

// ListCreditNotes returns credit notes of free loads, newest first, and the next page's cursor.
func (l *Ledger) ListCreditNotes(ctx context.Context, p DocumentListParams) ([]CreditNote, *int64, error) {
	rows, err := store.New(l.pool).ListCreditNotes(ctx, store.ListCreditNotesParams{
		CustomerID: p.CustomerID, BeforeSeq: p.BeforeSeq, MaxRows: p.Limit + 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list credit notes: %w", err)
	}
	out, next := store.Page(rows, p.Limit, func(r store.CreditNote) int64 { return r.Seq }, creditNoteView)
	return out, next, nil
}

// GetCreditNote returns a credit note; with customerID set, only that customer's (404 otherwise).
func (l *Ledger) GetCreditNote(ctx context.Context, id string, customerID *string) (CreditNote, error) {
	r, err := store.New(l.pool).GetCreditNote(ctx, id)
	if store.IsNoRows(err) || (err == nil && customerID != nil && r.CustomerID != *customerID) {
		return CreditNote{}, apperr.NotFoundf("credit note", id)
	}
	if err != nil {
		return CreditNote{}, fmt.Errorf("get credit note: %w", err)
	}
	return creditNoteView(r), nil
}

func creditNoteView(cn store.CreditNote) CreditNote {
	c := CreditNote{ID: cn.ID, Number: cn.Number, CustomerID: cn.CustomerID, WalletID: cn.WalletID, LoadID: cn.LoadID,
		Amount: money.Format(cn.Amount, cn.Currency), Currency: cn.Currency, Status: cn.Status, IssuedAt: cn.IssuedAt.UTC()}
	if cn.VoidedAt != nil {
		t := cn.VoidedAt.UTC()
		c.VoidedAt = &t
	}
	if cn.ExpiresAt != nil {
		t := cn.ExpiresAt.UTC()
		c.ExpiresAt = &t
	}
	return c
}
