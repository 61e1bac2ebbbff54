-- name: CreateWebhookEndpoint :one
INSERT INTO webhook_endpoints (id, url, description, events, enabled, secret)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetWebhookEndpoint :one
SELECT * FROM webhook_endpoints WHERE id = $1;

-- name: ListWebhookEndpoints :many
SELECT * FROM webhook_endpoints
WHERE (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT $1;

-- name: UpdateWebhookEndpoint :one
UPDATE webhook_endpoints SET
    url         = COALESCE(sqlc.narg(url)::text, url),
    description = COALESCE(sqlc.narg(description)::text, description),
    events      = COALESCE(sqlc.narg(events)::text[], events),
    enabled     = COALESCE(sqlc.narg(enabled)::boolean, enabled),
    updated_at  = now()
WHERE id = @id
RETURNING *;

-- name: DeleteWebhookEndpoint :execrows
DELETE FROM webhook_endpoints WHERE id = $1;

-- name: RotateWebhookEndpointSecret :one
-- The current secret becomes the previous one (signing until @previous_expires_at); a
-- secret that was already previous is dropped.
UPDATE webhook_endpoints SET
    previous_secret = secret,
    previous_secret_expires_at = @previous_expires_at::timestamptz,
    secret = @secret,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: TryLockWebhookFanout :one
-- Fan-out runs in one transaction at a time across every worker, so deliveries are created
-- in event order.
SELECT pg_try_advisory_xact_lock(7160241005);

-- name: ListWebhookFanoutBatch :many
SELECT e.id, e.seq, e.type, e.resource_id
FROM webhook_fanout_queue q
JOIN events e ON e.id = q.event_id
ORDER BY q.seq
LIMIT $1;

-- name: ListEnabledWebhookEndpoints :many
SELECT id, events FROM webhook_endpoints WHERE enabled ORDER BY seq;

-- name: InsertWebhookDeliveries :exec
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_seq, event_type, resource_id, next_attempt_at, retry_until)
SELECT unnest(@ids::text[]), unnest(@endpoint_ids::text[]), unnest(@event_ids::text[]),
       unnest(@event_seqs::bigint[]), unnest(@event_types::text[]), unnest(@resource_ids::text[]),
       @now::timestamptz, @retry_until::timestamptz
ON CONFLICT (endpoint_id, event_id) DO NOTHING;

-- name: DeleteWebhookFanout :exec
DELETE FROM webhook_fanout_queue WHERE event_id = ANY(@event_ids::text[]);

-- name: ClaimDueWebhookDeliveries :many
-- Takes up to @batch_size due deliveries of enabled endpoints, holding each until
-- @locked_until. A delivery waits while an earlier event about the same resource is still
-- pending for the same endpoint (in order per resource).
UPDATE webhook_deliveries d SET
    locked_until = @locked_until::timestamptz,
    attempts = d.attempts + 1,
    updated_at = @now::timestamptz
FROM webhook_endpoints w, events e
WHERE w.id = d.endpoint_id AND e.id = d.event_id
  AND d.id IN (
    SELECT c.id FROM webhook_deliveries c
    JOIN webhook_endpoints ce ON ce.id = c.endpoint_id AND ce.enabled
    WHERE c.status = 'pending' AND c.next_attempt_at <= @now::timestamptz
      AND (c.locked_until IS NULL OR c.locked_until <= @now::timestamptz)
      AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries p
        WHERE p.endpoint_id = c.endpoint_id AND p.resource_id = c.resource_id
          AND p.status = 'pending' AND p.event_seq < c.event_seq)
    ORDER BY c.next_attempt_at, c.event_seq
    LIMIT @batch_size
    FOR UPDATE OF c SKIP LOCKED)
RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, d.retry_until,
    w.url, w.secret, w.previous_secret, w.previous_secret_expires_at,
    e.type AS event_type, e.created_at AS event_created_at, e.data AS event_data;

-- name: RenewWebhookDeliveryLease :execrows
-- Just before sending: the delivery is still this sender's claim (no other sender has
-- claimed it since: attempts unchanged), so hold it for another lease.
UPDATE webhook_deliveries SET locked_until = @locked_until::timestamptz
WHERE id = @id AND attempts = @attempts AND status = 'pending';

-- name: MarkWebhookDelivered :execrows
UPDATE webhook_deliveries SET
    status = 'delivered', next_attempt_at = NULL, locked_until = NULL,
    last_attempt_at = @at::timestamptz, last_status_code = sqlc.narg(status_code)::integer, last_error = NULL,
    delivered_at = @at::timestamptz, updated_at = @at::timestamptz
WHERE id = @id AND attempts = @attempts AND status = 'pending';

-- name: MarkWebhookAttemptFailed :execrows
UPDATE webhook_deliveries SET
    next_attempt_at = @next_attempt_at::timestamptz, locked_until = NULL,
    last_attempt_at = @at::timestamptz, last_status_code = sqlc.narg(status_code)::integer, last_error = sqlc.narg(last_error)::text, updated_at = @at::timestamptz
WHERE id = @id AND attempts = @attempts AND status = 'pending';

-- name: MarkWebhookDeliveryFailed :execrows
UPDATE webhook_deliveries SET
    status = 'failed', next_attempt_at = NULL, locked_until = NULL,
    last_attempt_at = @at::timestamptz, last_status_code = sqlc.narg(status_code)::integer, last_error = sqlc.narg(last_error)::text,
    failed_at = @at::timestamptz, updated_at = @at::timestamptz
WHERE id = @id AND attempts = @attempts AND status = 'pending';

-- name: SetWebhookEndpointFailing :exec
UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, @at), updated_at = @at
WHERE id = @id;

-- name: ClearWebhookEndpointFailing :exec
UPDATE webhook_endpoints SET failing_since = NULL, updated_at = @at
WHERE id = @id AND failing_since IS NOT NULL;

-- name: ListWebhookDeliveries :many
SELECT * FROM webhook_deliveries
WHERE endpoint_id = @endpoint_id
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
ORDER BY seq DESC
LIMIT @row_limit;

-- name: GetWebhookDelivery :one
SELECT * FROM webhook_deliveries WHERE id = $1;

-- name: RetryWebhookDelivery :one
-- Redeliver now: the delivery is pending again, due at once, with a new retry window.
UPDATE webhook_deliveries SET
    status = 'pending', next_attempt_at = @now::timestamptz,
    retry_until = @retry_until::timestamptz, delivered_at = NULL, failed_at = NULL,
    updated_at = @now::timestamptz
WHERE id = @id
RETURNING *;
