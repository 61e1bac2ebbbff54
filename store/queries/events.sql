-- name: InsertEvent :one
INSERT INTO events (id, type, resource_type, resource_id, customer_id, data)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: ListEventsForResource :many
SELECT * FROM events WHERE resource_id = $1 ORDER BY seq;
