-- name: ListEventsForMetrics :many
-- The type and payload of fanned-out events, for the worker's metrics (metrics.ObserveEvent).
SELECT id, type, data FROM events WHERE id = ANY(@ids::text[]);
