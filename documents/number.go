// Package documents gives payorch's documents (invoices, receipts of paid loads, credit
// notes of free loads) their human-readable numbers and renders them as PDF.
//
// Numbers are sequential per kind and year with no gaps (INV-2026-000042): the counter
// row of (kind, year) is incremented by the transaction that inserts the document, in the
// database function next_document_number (migration 007), so a creator that rolls back
// gives its number back and concurrent creators queue on the row.
package documents

import (
	"context"
	"fmt"

	"payorch/store"
)

// Kind is a document kind and the prefix of its numbers.
type Kind string

// Document kinds.
const (
	// KindInvoice numbers invoices (given by the invoices.number column default).
	KindInvoice Kind = "INV"
	// KindReceipt numbers receipts of paid loads.
	KindReceipt Kind = "RCT"
	// KindCreditNote numbers credit notes of free loads.
	KindCreditNote Kind = "CN"
)

// NextNumber takes the next number of kind for the current year. q must run in the
// transaction that inserts the document: the number is given back if it rolls back.
func NextNumber(ctx context.Context, q *store.Queries, kind Kind) (string, error) {
	n, err := q.NextDocumentNumber(ctx, string(kind))
	if err != nil {
		return "", fmt.Errorf("next %s number: %w", kind, err)
	}
	return n, nil
}
