-- Documents: human-readable numbers, sequential per kind and year with no gaps
-- (INV-2026-000042, RCT-2026-000007, CN-2026-000003), and portal sessions.
--
-- A number comes from a counter row per (kind, year), incremented by the transaction that
-- creates the document: the row lock serialises concurrent creators, and a transaction
-- that rolls back gives its increment back with it, so the committed numbers of a kind and
-- year are exactly 1..N. (A PostgreSQL SEQUENCE would leave holes on rollback.)

CREATE TABLE document_number_counters (
    kind  text NOT NULL CHECK (kind IN ('INV', 'RCT', 'CN')),
    year  integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    value bigint NOT NULL CHECK (value >= 1),
    PRIMARY KEY (kind, year)
);

-- format_document_number is the one place the format is written: KIND-YYYY-NNNNNN
-- (more digits past 999999).
CREATE FUNCTION format_document_number(p_kind text, p_year integer, p_value bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT p_kind || '-' || p_year::text || '-' || CASE WHEN p_value < 1000000 THEN lpad(p_value::text, 6, '0') ELSE p_value::text END
$$;

-- next_document_number takes the next number of kind for the current year (UTC) of the
-- calling transaction. Call it only inside the transaction that inserts the document.
CREATE FUNCTION next_document_number(p_kind text) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
    y integer := extract(year FROM now() AT TIME ZONE 'UTC')::integer;
    n bigint;
BEGIN
    INSERT INTO document_number_counters AS c (kind, year, value) VALUES (p_kind, y, 1)
    ON CONFLICT (kind, year) DO UPDATE SET value = c.value + 1
    RETURNING c.value INTO n;
    RETURN format_document_number(p_kind, y, n);
END
$$;

-- Invoices get their number as they are inserted (every path that creates one: the
-- column default runs in the inserting transaction). Existing invoices are numbered in
-- creation order within their year.
ALTER TABLE invoices ADD COLUMN number text;
WITH numbered AS (
    SELECT id, extract(year FROM created_at AT TIME ZONE 'UTC')::integer AS y,
           row_number() OVER (PARTITION BY extract(year FROM created_at AT TIME ZONE 'UTC') ORDER BY seq) AS n
    FROM invoices
)
UPDATE invoices i SET number = format_document_number('INV', numbered.y, numbered.n)
FROM numbered WHERE numbered.id = i.id;
INSERT INTO document_number_counters (kind, year, value)
SELECT 'INV', extract(year FROM created_at AT TIME ZONE 'UTC')::integer, count(*)
FROM invoices GROUP BY 2;
ALTER TABLE invoices ALTER COLUMN number SET DEFAULT next_document_number('INV');
ALTER TABLE invoices ALTER COLUMN number SET NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_number_key UNIQUE (number);

-- Receipts and credit notes already issued keep their numbers (an issued number never
-- changes); new ones take next_document_number('RCT' | 'CN').
CREATE INDEX credit_notes_customer ON credit_notes (customer_id, seq);
CREATE INDEX receipts_customer ON receipts (customer_id, seq);

-- Customer portal sessions: a signed token names one row; the row makes it revocable.
-- purpose: api (minted by POST /v1/customers/{id}/portal-sessions) or email (minted when a
-- customer email with a portal link is sent).
CREATE TABLE portal_sessions (
    id          text PRIMARY KEY,
    seq         bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id text NOT NULL REFERENCES customers (id),
    purpose     text NOT NULL CHECK (purpose IN ('api', 'email')),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT portal_sessions_expiry CHECK (expires_at > created_at)
);
CREATE INDEX portal_sessions_customer ON portal_sessions (customer_id, seq);

---- create above / drop below ----

DROP TABLE portal_sessions;

DROP INDEX receipts_customer;
DROP INDEX credit_notes_customer;
ALTER TABLE invoices DROP COLUMN number;
DROP FUNCTION next_document_number(text);
DROP FUNCTION format_document_number(text, integer, bigint);
DROP TABLE document_number_counters;
