-- name: ClaimIdempotencyKey :one
-- Claims (scope, key) for a new request. A key whose first request was abandoned (no
-- response after the lock timeout) or that is older than the retention can be claimed
-- again. Returns no row when another request holds or completed the key.
INSERT INTO idempotency_keys AS k (scope, key, method, path, request_hash)
VALUES (@scope, @key, @method, @path, @request_hash)
ON CONFLICT (scope, key) DO UPDATE
    SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
        status_code = NULL, response_body = NULL, locked_at = now(),
        -- a key past its retention starts afresh; a same-request retry keeps what the first
        -- run bound to the key (the resource it created)
        resource_id = CASE WHEN k.created_at < now() - make_interval(secs => @retention_seconds::float8)
                           THEN NULL ELSE k.resource_id END,
        provisional_body = CASE WHEN k.created_at < now() - make_interval(secs => @retention_seconds::float8)
                           THEN NULL ELSE k.provisional_body END,
        generation = CASE WHEN k.created_at < now() - make_interval(secs => @retention_seconds::float8)
                          THEN 0 ELSE k.generation END,
        created_at = CASE WHEN k.created_at < now() - make_interval(secs => @retention_seconds::float8)
                          THEN now() ELSE k.created_at END
    WHERE k.created_at < now() - make_interval(secs => @retention_seconds::float8)
       OR (k.status_code IS NULL AND k.request_hash = EXCLUDED.request_hash
           AND k.locked_at < now() - make_interval(secs => @lock_timeout_seconds::float8))
RETURNING k.generation, k.created_at;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2;

-- name: CompleteIdempotencyKey :exec
UPDATE idempotency_keys SET status_code = $3, response_body = $4
WHERE scope = $1 AND key = $2 AND status_code IS NULL;

