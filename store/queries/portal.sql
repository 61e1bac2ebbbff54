-- name: CreatePortalSession :one
INSERT INTO portal_sessions (id, customer_id, purpose, expires_at, created_at)
VALUES (@id, @customer_id, @purpose, @expires_at, @created_at)
RETURNING *;

-- name: GetPortalSession :one
SELECT * FROM portal_sessions WHERE id = $1;

-- name: RevokePortalSession :one
UPDATE portal_sessions SET revoked_at = coalesce(revoked_at, @revoked_at::timestamptz)
WHERE id = @id
RETURNING *;
