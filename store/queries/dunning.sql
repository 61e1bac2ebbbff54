-- The dunning policy (package settings).

-- name: GetDunningPolicy :one
SELECT * FROM dunning_policy WHERE singleton;

-- name: PutDunningPolicy :one
INSERT INTO dunning_policy (singleton, default_schedule, by_error_type, updated_at, updated_by)
VALUES (true, @default_schedule, @by_error_type, now(), @updated_by)
ON CONFLICT (singleton) DO UPDATE
SET default_schedule = EXCLUDED.default_schedule, by_error_type = EXCLUDED.by_error_type,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING *;
