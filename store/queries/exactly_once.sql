-- name: LockIdempotencyKey :one
-- The key row of the request under way, locked until the caller's transaction ends, so
-- two runs of one request (a retry that reclaimed a key whose first run is slow) create
-- their resource one after the other, and the second finds the first's.
SELECT resource_id FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE;

-- name: BindIdempotencyKey :exec
-- Binds a key to the resource its request created, in the transaction that created it.
UPDATE idempotency_keys SET resource_id = @resource_id, provisional_body = @provisional_body
WHERE scope = @scope AND key = @key AND status_code IS NULL;

-- name: UnlockIdempotencyKey :exec
-- The request ended without a final answer (a 5xx, or 202 while work goes on): the key
-- keeps its request hash and binding, and the same request may run again at once. After
-- a failure (@failed) its generation moves on, so the rerun's Updates are fresh ones.
UPDATE idempotency_keys
SET locked_at = '-infinity', provisional_body = COALESCE(sqlc.narg(provisional_body), provisional_body),
    generation = generation + CASE WHEN @failed::boolean THEN 1 ELSE 0 END
WHERE scope = @scope AND key = @key AND status_code IS NULL;

-- name: GetReconciliationByReference :one
SELECT * FROM invoice_transactions WHERE invoice_id = $1 AND reference = $2;

-- name: MarkCollectionStarted :exec
UPDATE invoices SET collection_started_at = now() WHERE id = $1 AND collection_started_at IS NULL;

-- name: ListUnstartedInvoices :many
-- Collectable invoices whose payment workflow is not known to be started, created before
-- the grace period (their own request may still be starting them).
SELECT * FROM invoices
WHERE collection_started_at IS NULL AND kind = 'standard' AND status IN ('to_pay', 'error')
  AND created_at < now() - make_interval(secs => @grace_seconds::float8)
ORDER BY created_at
LIMIT @max_rows;

-- name: ListInvoicesMissingNewPaymentMethod :many
-- Open card/direct-debit invoices whose workflow was not told of the payment method an
-- automatic charge of theirs would now use (as ChargeablePaymentMethod picks it), saved
-- after their last charge (or after the invoice, when it was never charged) and before
-- the grace period: their workflow may have missed the "payment method updated" signal.
SELECT i.id AS invoice_id, pm.id AS payment_method_id
FROM invoices i
JOIN LATERAL (
    SELECT p.id, p.created_at FROM payment_methods p
    WHERE p.customer_id = i.customer_id AND p.status = 'active' AND p.type = i.payment_method
    ORDER BY p.is_default DESC, p.seq DESC LIMIT 1
) pm ON true
LEFT JOIN LATERAL (
    SELECT t.status, t.payment_method_id, t.created_at FROM invoice_transactions t
    WHERE t.invoice_id = i.id AND t.method = i.payment_method
    ORDER BY t.seq DESC LIMIT 1
) last ON true
WHERE i.kind = 'standard' AND i.status IN ('to_pay', 'error') AND i.payment_method IN ('card', 'direct_debit')
  AND (last.status IS NULL OR last.status = 'failed')
  AND pm.id IS DISTINCT FROM last.payment_method_id
  AND pm.created_at > COALESCE(last.created_at, i.created_at)
  AND pm.created_at < now() - make_interval(secs => @grace_seconds::float8)
  AND NOT EXISTS (SELECT 1 FROM payment_method_wakeups w WHERE w.invoice_id = i.id AND w.payment_method_id = pm.id)
ORDER BY i.seq
LIMIT @max_rows;

-- name: RecordPaymentMethodWakeup :exec
INSERT INTO payment_method_wakeups (invoice_id, payment_method_id) VALUES ($1, $2) ON CONFLICT DO NOTHING;

-- name: ListOpenInvoicesChargeableWith :many
-- The customer's open invoices that an automatic charge would now take from
-- @payment_method_id (it is the one ChargeablePaymentMethod picks for their method).
SELECT i.id FROM invoices i
WHERE i.customer_id = @customer_id AND i.kind = 'standard' AND i.status IN ('to_pay', 'error')
  AND i.payment_method IN ('card', 'direct_debit')
  AND @payment_method_id::text = (
      SELECT p.id FROM payment_methods p
      WHERE p.customer_id = i.customer_id AND p.status = 'active' AND p.type = i.payment_method
      ORDER BY p.is_default DESC, p.seq DESC LIMIT 1)
ORDER BY i.seq;

-- name: ListRecentlyReactivatedSubscriptionInvoices :many
-- Open invoices of subscriptions that are active again after a reactivation between
-- @since and the grace period ago: their workflows may have missed the signal that lifts
-- the hold an errored subscription put on them (a workflow not held ignores it).
SELECT DISTINCT i.id AS invoice_id, i.subscription_id::text AS subscription_id, i.seq
FROM invoices i
JOIN subscriptions s ON s.id = i.subscription_id AND s.status = 'active'
JOIN events e ON e.resource_id = s.id AND e.type = 'subscription.reactivated'
WHERE i.kind = 'standard' AND i.status IN ('to_pay', 'error')
  AND e.created_at > @since::timestamptz
  AND e.created_at < now() - make_interval(secs => @grace_seconds::float8)
ORDER BY i.seq
LIMIT @max_rows;

-- name: GetUsageRecord :one
SELECT * FROM usage_records WHERE id = $1;
