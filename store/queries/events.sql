-- name: InsertEvent :one
INSERT INTO events (id, type, resource_type, resource_id, customer_id, data)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: ListEventsForResource :many
SELECT * FROM events WHERE resource_id = $1 ORDER BY seq;

-- name: ListEvents :many
-- The outbox, newest first (GET /v1/events).
SELECT * FROM events
WHERE type = ANY(@types::text[])
  AND (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(resource_id)::text IS NULL OR resource_id = sqlc.narg(resource_id)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @lim;
