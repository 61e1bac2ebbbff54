-- Subscriptions and their usage (package subscriptions).

-- name: CreateSubscription :one
INSERT INTO subscriptions (id, customer_id, external_id, currency, amount, current_period_start, current_period_end)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetSubscription :one
SELECT * FROM subscriptions WHERE id = $1;

-- name: ListSubscriptions :many
SELECT * FROM subscriptions
WHERE (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(external_id)::text IS NULL OR external_id = sqlc.narg(external_id)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @lim;

-- name: GetSubscriptionByExternalID :one
SELECT * FROM subscriptions WHERE external_id = $1;

-- name: ListUsageRecords :many
SELECT * FROM usage_records
WHERE subscription_id = @subscription_id
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @lim;

-- name: CreateUsageRecord :one
INSERT INTO usage_records (id, subscription_id, amount, description, occurred_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: LockSubscription :one
SELECT * FROM subscriptions WHERE id = $1 FOR UPDATE;

-- name: ReactivateSubscription :one
-- The merchant puts an errored subscription back in service; its unpaid invoice stays unpaid.
UPDATE subscriptions SET status = 'active', errored_at = NULL, updated_at = now()
WHERE id = $1 AND status = 'errored'
RETURNING *;

-- name: CancelSubscription :one
-- The merchant ends a subscription that is not already cancelled.
UPDATE subscriptions SET status = 'cancelled', cancelled_at = now(), updated_at = now()
WHERE id = $1 AND status <> 'cancelled'
RETURNING *;

-- name: RenewSubscriptionPeriod :execrows
-- Renewal: an invoice for a period that starts at or after the current one ends moves the
-- current period forward to it (never backward).
UPDATE subscriptions
SET current_period_start = @period_start::timestamptz, current_period_end = @period_end::timestamptz, updated_at = now()
WHERE id = @id AND current_period_end <= @period_start::timestamptz;
