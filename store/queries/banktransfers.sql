-- name: GetInvoiceBankTransfer :one
SELECT * FROM invoice_bank_transfers WHERE invoice_id = $1;

-- name: InsertInvoiceBankTransfer :execrows
-- Records the provider's funding of an invoice; the first one recorded stays.
INSERT INTO invoice_bank_transfers (invoice_id, provider, provider_reference, amount, currency, instructions)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (invoice_id) DO NOTHING;

-- name: InvoiceIDForBankTransfer :one
SELECT invoice_id FROM invoice_bank_transfers WHERE provider = $1 AND provider_reference = $2;

-- name: SumFundingReconciliations :one
-- What an invoice already holds of the transfer money a provider funding reports: its
-- reconciliations under that funding (references starting with the funding's prefix,
-- "<provider_reference>:") and the bank transfers reconciled by hand (method
-- bank_transfer), which may be the same money an operator saw arrive before the
-- provider's report. Other money recorded by hand (method manual: cash, a cheque) is not
-- transfer money and is not subtracted.
SELECT coalesce(sum(amount), 0)::numeric AS total FROM invoice_transactions
WHERE invoice_id = $1 AND status = 'settled'
  AND (starts_with(reference, sqlc.arg(prefix)::text) OR method = 'bank_transfer');

-- name: LastFundingReconciliation :one
SELECT * FROM invoice_transactions
WHERE invoice_id = $1 AND status = 'settled' AND starts_with(reference, sqlc.arg(prefix)::text)
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: GetSimBankTransferByKey :one
SELECT * FROM sim_bank_transfers WHERE idempotency_key = $1;

-- name: GetSimBankTransfer :one
SELECT * FROM sim_bank_transfers WHERE id = $1;

-- name: InsertSimBankTransfer :execrows
INSERT INTO sim_bank_transfers (id, idempotency_key, customer_ref, payment_method_ref, amount, currency, iban, reference, metadata, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (idempotency_key) DO NOTHING;

-- name: InsertSimBankTransferEvent :exec
INSERT INTO sim_bank_transfer_events (id, transfer_id, seq, amount, received, due_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: NextDueSimBankTransferEvent :one
-- The oldest due, undelivered incoming transfer no other poller holds.
SELECT * FROM sim_bank_transfer_events
WHERE delivered_at IS NULL AND due_at <= sqlc.arg(now)::timestamptz
ORDER BY due_at, transfer_id, seq
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: MarkSimBankTransferEventDelivered :exec
UPDATE sim_bank_transfer_events SET delivered_at = sqlc.arg(delivered_at)::timestamptz WHERE id = $1;

-- name: PostponeSimBankTransferEvent :exec
UPDATE sim_bank_transfer_events
SET attempts = attempts + 1, last_error = sqlc.arg(last_error)::text, due_at = sqlc.arg(due_at)::timestamptz
WHERE id = $1;

-- name: SimBankTransferReceived :one
-- What the simulated customer has transferred so far (the delivered events).
SELECT coalesce(max(received), 0)::numeric AS received FROM sim_bank_transfer_events
WHERE transfer_id = $1 AND delivered_at IS NOT NULL;
