-- Exactly once at the edges: an Idempotency-Key stays bound to the effect its first
-- request had (the resource it created), so a retry after a hang-up, a crash or a 5xx
-- finds that resource instead of making a second one; and the worker's sweeper finds
-- invoices whose payment workflow was never started.

-- resource_id: the resource the key's request created, written in the same transaction
-- as the resource. provisional_body: that resource as the API shows it, answered with 202
-- to a duplicate that arrives while the first request is still finishing.
-- generation: how many runs of the key's request ended in a 5xx; it is part of the
-- Temporal Update ids the request derives, so a rerun after a failure sends a fresh
-- Update instead of attaching to the failed one (a 202 keeps the generation: the rerun
-- attaches to the Update still running).
ALTER TABLE idempotency_keys
    ADD COLUMN resource_id      text,
    ADD COLUMN provisional_body bytea,
    ADD COLUMN generation       integer NOT NULL DEFAULT 0;

-- A bank (or on-session) reference counts once per invoice, whatever request carries it.
CREATE UNIQUE INDEX invoice_transactions_one_reference ON invoice_transactions (invoice_id, reference)
    WHERE reference IS NOT NULL;

-- collection_started_at: when the invoice's payment workflow was known to be started
-- (NULL: not yet; the sweeper starts it).
ALTER TABLE invoices ADD COLUMN collection_started_at timestamptz;
UPDATE invoices SET collection_started_at = created_at;
CREATE INDEX invoices_collection_unstarted ON invoices (created_at)
    WHERE collection_started_at IS NULL AND kind = 'standard';

-- Which invoice workflows were told of which new payment method (by the API or the
-- sweeper), so the sweeper tells each one once and only what it may have missed.
CREATE TABLE payment_method_wakeups (
    invoice_id        text NOT NULL REFERENCES invoices (id),
    payment_method_id text NOT NULL REFERENCES payment_methods (id),
    told_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, payment_method_id)
);

---- create above / drop below ----

DROP TABLE payment_method_wakeups;

DROP INDEX invoices_collection_unstarted;
DROP INDEX invoice_transactions_one_reference;
ALTER TABLE invoices DROP COLUMN collection_started_at;
ALTER TABLE idempotency_keys DROP COLUMN generation, DROP COLUMN provisional_body, DROP COLUMN resource_id;
