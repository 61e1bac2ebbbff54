-- name: NextDocumentNumber :one
-- The next gap-free number of a document kind (INV, RCT, CN) for the current year; call
-- it inside the transaction that inserts the document.
SELECT next_document_number(@kind::text)::text AS number;

-- name: ListReceipts :many
SELECT * FROM receipts
WHERE (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @max_rows;

-- name: GetReceipt :one
SELECT * FROM receipts WHERE id = $1;

-- name: ListCreditNotes :many
SELECT * FROM credit_notes
WHERE (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @max_rows;

-- name: GetCreditNote :one
SELECT * FROM credit_notes WHERE id = $1;
