-- Wallets: one prepaid wallet per customer, its append-only ledger, loads (top-ups) and
-- the documents they produce (credit notes for free loads, receipts for paid ones).
--
-- The money rules live here as constraints; package ledger writes every balance change as
-- one statement that updates wallets.balance and inserts the ledger row together.

-- Gapless numbering of accounting documents (credit notes). A row per document type,
-- incremented inside the transaction that issues the document.
CREATE TABLE document_counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL CHECK (value >= 0)
);
INSERT INTO document_counters (name, value) VALUES ('credit_note', 0);

-- Receipts are informational (no accounting impact): a sequence is enough.
CREATE SEQUENCE receipt_number_seq;

CREATE TABLE wallets (
    id            text PRIMARY KEY,
    seq           bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- one wallet per customer
    customer_id   text NOT NULL UNIQUE REFERENCES customers (id),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- the cached balance: always the sum of the ledger, changed in the same statement as
    -- the ledger row; a wallet can never be negative
    balance       numeric(20, 6) NOT NULL DEFAULT 0,
    auto_debit    boolean NOT NULL DEFAULT true,
    portal_top_up boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_balance_not_negative CHECK (balance >= 0)
);

-- A load (top-up). Free loads are settled at once; paid loads are charged by the
-- WalletLoad workflow and stay pending until the charge settles or fails.
CREATE TABLE wallet_loads (
    id                    text PRIMARY KEY,
    seq                   bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    wallet_id             text NOT NULL REFERENCES wallets (id),
    customer_id           text NOT NULL REFERENCES customers (id),
    type                  text NOT NULL CHECK (type IN ('paid', 'free')),
    source                text NOT NULL CHECK (source IN ('operator', 'api', 'portal')),
    amount                numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status                text NOT NULL CHECK (status IN ('pending', 'settled', 'failed')),
    payment_method_id     text REFERENCES payment_methods (id),
    invoice_id            text UNIQUE REFERENCES invoices (id),
    charge_reference      text,
    error_type            text CHECK (error_type IN ('authentication_required', 'payment_method_authorization_error',
                              'payment_method_declined', 'payment_method_expired', 'payment_method_invalid',
                              'payment_method_not_supported', 'declined', 'fraud', 'processing_error',
                              'provider_error', 'unknown')),
    provider_code         text,
    decline_code          text,
    error_message         text,
    wallet_transaction_id text UNIQUE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    -- a paid load is charged to a saved payment method; a free one is not charged
    CONSTRAINT wallet_loads_paid_has_method CHECK ((type = 'paid') = (payment_method_id IS NOT NULL)),
    CONSTRAINT wallet_loads_free_settles CHECK (type = 'paid' OR status = 'settled'),
    CONSTRAINT wallet_loads_failed_has_type CHECK ((status = 'failed') = (error_type IS NOT NULL)),
    -- settled means credited, and only settled loads are credited
    CONSTRAINT wallet_loads_settled_credited CHECK ((status = 'settled') = (wallet_transaction_id IS NOT NULL)),
    CONSTRAINT wallet_loads_completed CHECK ((status = 'pending') = (completed_at IS NULL))
);
CREATE INDEX wallet_loads_wallet ON wallet_loads (wallet_id, seq);
-- the portal balance limit counts loads still in flight
CREATE INDEX wallet_loads_pending ON wallet_loads (wallet_id) WHERE status = 'pending';
CREATE UNIQUE INDEX wallet_loads_charge_reference ON wallet_loads (charge_reference) WHERE charge_reference IS NOT NULL;

-- The append-only ledger. Every balance change is one row; the only column that ever
-- changes is reverted_by, once (enforced by the trigger below).
CREATE TABLE wallet_transactions (
    id                      text PRIMARY KEY,
    seq                     bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    wallet_id               text NOT NULL REFERENCES wallets (id),
    type                    text NOT NULL CHECK (type IN ('credit_paid', 'credit_free', 'debit')),
    amount                  numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency                text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    source                  text NOT NULL CHECK (source IN ('operator', 'api', 'portal', 'invoice', 'invoice_void', 'revert')),
    invoice_id              text REFERENCES invoices (id),
    attempt                 integer CHECK (attempt >= 0),
    load_id                 text REFERENCES wallet_loads (id),
    original_transaction_id text REFERENCES wallet_transactions (id),
    reverted_by             text REFERENCES wallet_transactions (id),
    -- the wallet's balance right after this row
    balance_after           numeric(20, 6) NOT NULL CHECK (balance_after >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    -- debits come from an invoice or a revert; credits from a load or a voided invoice
    CONSTRAINT wallet_transactions_source CHECK (
        CASE type
            WHEN 'debit' THEN source IN ('invoice', 'revert')
            WHEN 'credit_free' THEN source IN ('operator', 'api', 'portal')
            ELSE source IN ('operator', 'api', 'portal', 'invoice_void')
        END),
    CONSTRAINT wallet_transactions_invoice_debit CHECK (source <> 'invoice' OR (invoice_id IS NOT NULL AND attempt IS NOT NULL)),
    CONSTRAINT wallet_transactions_invoice_void CHECK (source <> 'invoice_void' OR invoice_id IS NOT NULL),
    CONSTRAINT wallet_transactions_revert CHECK ((source = 'revert') = (original_transaction_id IS NOT NULL)),
    CONSTRAINT wallet_transactions_load CHECK (load_id IS NULL OR source IN ('operator', 'api', 'portal')),
    -- only credits are reverted
    CONSTRAINT wallet_transactions_reverted_credit CHECK (reverted_by IS NULL OR type <> 'debit')
);
CREATE INDEX wallet_transactions_wallet ON wallet_transactions (wallet_id, seq);
-- one debit per invoice and attempt, whatever retries
CREATE UNIQUE INDEX wallet_transactions_invoice_attempt ON wallet_transactions (invoice_id, attempt) WHERE source = 'invoice';
-- a voided invoice's debits are given back once
CREATE UNIQUE INDEX wallet_transactions_invoice_void ON wallet_transactions (invoice_id) WHERE source = 'invoice_void';
-- a load is credited once
CREATE UNIQUE INDEX wallet_transactions_load ON wallet_transactions (load_id) WHERE load_id IS NOT NULL;
-- a transaction is reverted once
CREATE UNIQUE INDEX wallet_transactions_original ON wallet_transactions (original_transaction_id) WHERE original_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX wallet_transactions_reverted_by ON wallet_transactions (reverted_by) WHERE reverted_by IS NOT NULL;

-- deferred: a free load is inserted settled, naming the credit written right after it
ALTER TABLE wallet_loads ADD CONSTRAINT wallet_loads_wallet_transaction_fk
    FOREIGN KEY (wallet_transaction_id) REFERENCES wallet_transactions (id) DEFERRABLE INITIALLY DEFERRED;

CREATE FUNCTION wallet_transactions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'wallet_transactions is append-only: % cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.reverted_by IS NOT NULL OR NEW.reverted_by IS NULL
       OR (to_jsonb(NEW) - 'reverted_by') IS DISTINCT FROM (to_jsonb(OLD) - 'reverted_by') THEN
        RAISE EXCEPTION 'wallet_transactions is append-only: only reverted_by may be set, once (transaction %)', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER wallet_transactions_append_only
    BEFORE UPDATE OR DELETE ON wallet_transactions
    FOR EACH ROW EXECUTE FUNCTION wallet_transactions_append_only();

-- The outcome of DebitForInvoice for each (invoice, attempt), fixed by the first call: a
-- retried activity gets the same answer, "nothing taken" included.
CREATE TABLE wallet_debit_attempts (
    invoice_id             text NOT NULL REFERENCES invoices (id),
    attempt                integer NOT NULL CHECK (attempt >= 0),
    wallet_id              text REFERENCES wallets (id),
    amount                 numeric(20, 6) NOT NULL CHECK (amount >= 0),
    wallet_transaction_id  text UNIQUE REFERENCES wallet_transactions (id),
    invoice_transaction_id text UNIQUE REFERENCES invoice_transactions (id),
    -- why nothing was taken
    skipped                text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, attempt),
    CONSTRAINT wallet_debit_attempts_taken CHECK ((amount > 0) = (wallet_transaction_id IS NOT NULL AND invoice_transaction_id IS NOT NULL)),
    CONSTRAINT wallet_debit_attempts_skipped CHECK ((amount = 0) = (skipped IS NOT NULL))
);

-- Credit note of a free load (accounting document); voided when the load is reverted.
CREATE TABLE credit_notes (
    id                    text PRIMARY KEY,
    seq                   bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    number                text NOT NULL UNIQUE,
    customer_id           text NOT NULL REFERENCES customers (id),
    wallet_id             text NOT NULL REFERENCES wallets (id),
    load_id               text NOT NULL UNIQUE REFERENCES wallet_loads (id),
    wallet_transaction_id text NOT NULL UNIQUE REFERENCES wallet_transactions (id),
    amount                numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status                text NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'voided')),
    issued_at             timestamptz NOT NULL DEFAULT now(),
    voided_at             timestamptz,
    CONSTRAINT credit_notes_voided CHECK ((status = 'voided') = (voided_at IS NOT NULL))
);

-- Receipt of a paid load (informational, emailed to the customer).
CREATE TABLE receipts (
    id                    text PRIMARY KEY,
    seq                   bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    number                text NOT NULL UNIQUE,
    customer_id           text NOT NULL REFERENCES customers (id),
    wallet_id             text NOT NULL REFERENCES wallets (id),
    load_id               text NOT NULL UNIQUE REFERENCES wallet_loads (id),
    invoice_id            text NOT NULL REFERENCES invoices (id),
    wallet_transaction_id text NOT NULL UNIQUE REFERENCES wallet_transactions (id),
    amount                numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    payment_method        text NOT NULL CHECK (payment_method IN ('card', 'direct_debit')),
    issued_at             timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE receipts;
DROP TABLE credit_notes;
DROP TABLE wallet_debit_attempts;
DROP TRIGGER wallet_transactions_append_only ON wallet_transactions;
DROP FUNCTION wallet_transactions_append_only();
ALTER TABLE wallet_loads DROP CONSTRAINT wallet_loads_wallet_transaction_fk;
DROP TABLE wallet_transactions;
DROP TABLE wallet_loads;
DROP TABLE wallets;
DROP SEQUENCE receipt_number_seq;
DROP TABLE document_counters;
