-- Exactly once at the edges: an Idempotency-Key stays bound to the effect its first
-- request had (the resource it created), so a retry after a hang-up, a crash or a 5xx
-- finds that resource instead of making a second one; and the worker's sweeper finds
-- invoices whose payment workflow was never started.

-- resource_id: the resource the key's request created, written in the same transaction
-- as the resource. provisional_body: that resource as the API shows it, answered with 202
-- to a duplicate that arrives while the first request is still finishing.
ALTER TABLE idempotency_keys
    ADD COLUMN resource_id      text,
    ADD COLUMN provisional_body bytea;

-- collection_started_at: when the invoice's payment workflow was known to be started
-- (NULL: not yet; the sweeper starts it).
ALTER TABLE invoices ADD COLUMN collection_started_at timestamptz;
UPDATE invoices SET collection_started_at = created_at;
CREATE INDEX invoices_collection_unstarted ON invoices (created_at)
    WHERE collection_started_at IS NULL AND kind = 'standard';

---- create above / drop below ----

DROP INDEX invoices_collection_unstarted;
ALTER TABLE invoices DROP COLUMN collection_started_at;
ALTER TABLE idempotency_keys DROP COLUMN provisional_body, DROP COLUMN resource_id;
