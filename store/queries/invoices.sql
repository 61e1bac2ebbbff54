-- name: CreateInvoice :one
INSERT INTO invoices (id, customer_id, subscription_id, external_id, kind, currency, payment_method, total, period_start, period_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: CreateInvoiceLine :exec
INSERT INTO invoice_lines (invoice_id, position, description, amount) VALUES ($1, $2, $3, $4);

-- name: GetInvoice :one
SELECT * FROM invoices WHERE id = $1;

-- name: GetInvoiceByExternalID :one
SELECT * FROM invoices WHERE external_id = $1;

-- name: LockInvoice :one
SELECT * FROM invoices WHERE id = $1 FOR UPDATE;

-- name: ListInvoiceLines :many
SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY position;

-- name: ListInvoiceTransactions :many
SELECT * FROM invoice_transactions WHERE invoice_id = $1 ORDER BY seq;

-- name: ListInvoices :many
SELECT * FROM invoices
WHERE (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(subscription_id)::text IS NULL OR subscription_id = sqlc.narg(subscription_id)::text)
  AND (sqlc.narg(external_id)::text IS NULL OR external_id = sqlc.narg(external_id)::text)
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from)::timestamptz)
  AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at < sqlc.narg(created_to)::timestamptz)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT $1;

-- name: CountInvoiceEvents :one
SELECT count(*) FROM events WHERE resource_id = $1 AND type = $2;

-- name: BillUsageToInvoice :exec
UPDATE usage_records SET invoice_id = @invoice_id
WHERE subscription_id = @subscription_id AND invoice_id IS NULL
  AND occurred_at >= @period_start AND occurred_at < @period_end;

-- name: InsertInvoiceTransaction :one
INSERT INTO invoice_transactions (id, invoice_id, attempt, method, amount, currency, status, payment_method_id, idempotency_key, reference, paid_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

-- name: GetInvoiceTransactionByKey :one
SELECT * FROM invoice_transactions WHERE idempotency_key = $1;

-- name: GetInvoiceTransaction :one
SELECT * FROM invoice_transactions WHERE id = $1;

-- name: GetInvoiceTransactionByReference :one
SELECT * FROM invoice_transactions WHERE provider_reference = $1 ORDER BY seq DESC LIMIT 1;

-- name: SetInvoiceTransactionReference :exec
UPDATE invoice_transactions SET provider_reference = $2, updated_at = now()
WHERE id = $1 AND status = 'pending';

-- name: SettleInvoiceTransaction :one
UPDATE invoice_transactions
SET status = 'settled', provider_reference = coalesce(sqlc.narg(reference), provider_reference), paid_at = now(), updated_at = now()
WHERE id = @id AND status = 'pending'
RETURNING *;

-- name: FailInvoiceTransaction :one
UPDATE invoice_transactions
SET status = 'failed', error_type = @error_type, hard_decline = @hard_decline, provider_code = sqlc.narg(provider_code),
    decline_code = sqlc.narg(decline_code), provider_message = sqlc.narg(provider_message),
    provider_reference = coalesce(sqlc.narg(reference), provider_reference), updated_at = now()
WHERE id = @id AND status = 'pending'
RETURNING *;

-- name: CancelPendingInvoiceTransactions :exec
UPDATE invoice_transactions SET status = 'cancelled', updated_at = now()
WHERE invoice_id = $1 AND status = 'pending';

-- name: AddInvoiceAmountPaid :one
-- Adds a settled payment; refuses (no row) to pay more than the total or a closed invoice.
UPDATE invoices SET amount_paid = amount_paid + @amount, updated_at = now()
WHERE id = @id AND status IN ('to_pay', 'error') AND amount_paid + @amount <= total
RETURNING *;

-- name: MarkInvoicePaid :one
UPDATE invoices SET status = 'paid', paid_at = now(), next_retry_at = NULL, updated_at = now()
WHERE id = $1 AND status IN ('to_pay', 'error') AND amount_paid = total
RETURNING *;

-- name: MarkInvoiceErrored :one
UPDATE invoices SET status = 'error', errored_at = now(), next_retry_at = NULL, updated_at = now()
WHERE id = $1 AND status = 'to_pay'
RETURNING *;

-- name: MarkInvoiceVoided :one
UPDATE invoices SET status = 'voided', voided_at = now(), void_reason = sqlc.narg(void_reason), next_retry_at = NULL, updated_at = now()
WHERE id = $1 AND status IN ('to_pay', 'error')
RETURNING *;

-- name: NoteInvoiceAttempt :exec
-- Charge n has started: the invoice has seen at least n attempts.
UPDATE invoices SET attempt_count = GREATEST(attempt_count, $2), updated_at = now()
WHERE id = $1;

-- name: SetInvoiceSchedule :exec
UPDATE invoices SET attempt_count = $2, next_retry_at = $3, updated_at = now()
WHERE id = $1 AND status IN ('to_pay', 'error');

-- name: InvoiceSubscriptionErrored :one
UPDATE subscriptions SET status = 'errored', errored_at = now(), updated_at = now()
WHERE id = $1 AND status = 'active'
RETURNING *;

-- name: InvoiceSubscriptionActivated :one
-- Back to active after a successful payment, only while the period is still running.
UPDATE subscriptions SET status = 'active', errored_at = NULL, updated_at = now()
WHERE id = @id AND status = 'errored'
  AND @now::timestamptz >= current_period_start AND @now::timestamptz < current_period_end
RETURNING *;

-- name: GetInvoiceSubscription :one
SELECT * FROM subscriptions WHERE id = $1;

-- name: ChargeablePaymentMethod :one
-- The payment method an automatic charge of an invoice paid by @type (card or
-- direct_debit) uses: the customer's default if it is of that type and active, else the
-- newest active one of that type. Never one of another type.
SELECT * FROM payment_methods
WHERE customer_id = @customer_id AND status = 'active' AND type = @type
ORDER BY is_default DESC, seq DESC
LIMIT 1;

-- name: MarkPaymentMethodErrored :one
UPDATE payment_methods SET status = 'errored' WHERE id = $1 AND status = 'active' RETURNING *;

-- name: ListOpenInvoiceIDsForSubscription :many
SELECT id FROM invoices
WHERE subscription_id = $1 AND status IN ('to_pay', 'error') AND kind = 'standard'
ORDER BY seq;
