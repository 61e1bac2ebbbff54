-- Payment service providers: the simulated provider (package payments) and inbound
-- provider events (api/providers.go).

-- name: SimChargeByKey :one
SELECT * FROM sim_charges WHERE idempotency_key = $1;

-- name: InsertSimCharge :execrows
-- The first insert for a key wins; a concurrent or later one inserts nothing and reads
-- the winner's row with SimChargeByKey.
INSERT INTO sim_charges (
    id, idempotency_key, payment_method_ref, customer_ref, amount, currency, description,
    status, error_type, hard_decline, provider_code, decline_code, message, metadata,
    event_id, event_status, event_error_type, event_hard_decline, event_provider_code,
    event_decline_code, event_message, event_due_at, created_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7,
    $8, $9, $10, $11, $12, $13, $14,
    $15, $16, $17, $18, $19,
    $20, $21, $22, $23
)
ON CONFLICT (idempotency_key) DO NOTHING;

-- name: LockSimPaymentMethod :exec
-- Serialises the charges of one payment method and customer until the transaction ends
-- (for the "fail N times then settle" count).
SELECT pg_advisory_xact_lock(hashtextextended('sim_charges:' || sqlc.arg(payment_method_ref)::text || ':' || sqlc.arg(customer_ref)::text, 0));

-- name: CountSimCharges :one
SELECT count(*) FROM sim_charges WHERE payment_method_ref = $1 AND customer_ref = $2;

-- name: BumpSimOutageCalls :one
-- Counts one more call that met a simulated outage for this idempotency key.
INSERT INTO sim_outage_calls (idempotency_key, calls, updated_at) VALUES ($1, 1, now())
ON CONFLICT (idempotency_key) DO UPDATE SET calls = sim_outage_calls.calls + 1, updated_at = now()
RETURNING calls;

-- name: NextDueSimEvent :one
-- The oldest due, undelivered event no other poller holds.
SELECT * FROM sim_charges
WHERE event_id IS NOT NULL AND event_delivered_at IS NULL AND event_due_at <= sqlc.arg(now)::timestamptz
ORDER BY event_due_at, seq
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: MarkSimEventDelivered :exec
UPDATE sim_charges SET event_delivered_at = sqlc.arg(delivered_at)::timestamptz WHERE id = $1;

-- name: PostponeSimEvent :exec
-- Records a failed delivery and when to try again.
UPDATE sim_charges
SET event_attempts = event_attempts + 1, event_last_error = sqlc.arg(last_error)::text,
    event_due_at = sqlc.arg(due_at)::timestamptz
WHERE id = $1;

-- name: InsertProviderEvent :execrows
-- Claims an inbound provider event; 0 rows when it was already processed (or another
-- delivery of it is being processed right now: then this waits for that one to end).
INSERT INTO provider_events (provider, event_id, reference, status)
VALUES ($1, $2, $3, $4)
ON CONFLICT (provider, event_id) DO NOTHING;

-- name: MarkProviderEventProcessed :exec
UPDATE provider_events SET processed_at = now() WHERE provider = $1 AND event_id = $2;

-- name: RearmSimEvent :exec
-- The second event of a charge that settles and is then taken back (pm_sim_sepa_return):
-- the row's event becomes the return, due later, undelivered.
UPDATE sim_charges
SET event_id = sqlc.arg(event_id)::text, event_status = sqlc.arg(event_status)::text,
    event_error_type = '', event_hard_decline = false,
    event_provider_code = sqlc.arg(event_provider_code)::text, event_decline_code = '',
    event_message = sqlc.arg(event_message)::text, event_due_at = sqlc.arg(due_at)::timestamptz,
    event_delivered_at = NULL, event_attempts = 0, event_last_error = ''
WHERE id = $1;
