-- Billing: subscriptions, usage, invoices, their lines and their payment transactions.
-- The wallet ledger (003) and the invoice workflow build on these tables.

CREATE TABLE subscriptions (
    id                   text PRIMARY KEY,
    seq                  bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id          text NOT NULL REFERENCES customers (id),
    external_id          text UNIQUE,
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount               numeric(20, 6) NOT NULL CHECK (amount >= 0),
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'errored', 'paused', 'cancelled')),
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    errored_at           timestamptz,
    cancelled_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_period CHECK (current_period_end > current_period_start)
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, status);

CREATE TABLE invoices (
    id              text PRIMARY KEY,
    seq             bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id     text NOT NULL REFERENCES customers (id),
    subscription_id text REFERENCES subscriptions (id),
    external_id     text UNIQUE,
    -- standard: an invoice to collect; wallet_load: the one-off invoice of a paid top-up
    kind            text NOT NULL DEFAULT 'standard' CHECK (kind IN ('standard', 'wallet_load')),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          text NOT NULL DEFAULT 'to_pay' CHECK (status IN ('to_pay', 'paid', 'error', 'voided')),
    payment_method  text NOT NULL CHECK (payment_method IN ('card', 'direct_debit', 'bank_transfer')),
    total           numeric(20, 6) NOT NULL CHECK (total >= 0),
    amount_paid     numeric(20, 6) NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_due      numeric(20, 6) GENERATED ALWAYS AS (total - amount_paid) STORED,
    period_start    timestamptz,
    period_end      timestamptz,
    attempt_count   integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    next_retry_at   timestamptz,
    paid_at         timestamptz,
    errored_at      timestamptz,
    voided_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- an invoice is never paid more than its total
    CONSTRAINT invoices_not_overpaid CHECK (amount_paid <= total),
    CONSTRAINT invoices_paid_means_settled CHECK (status <> 'paid' OR amount_paid = total),
    CONSTRAINT invoices_period CHECK ((period_start IS NULL) = (period_end IS NULL) AND (period_end IS NULL OR period_end > period_start))
);
CREATE INDEX invoices_customer ON invoices (customer_id, status);
CREATE INDEX invoices_subscription ON invoices (subscription_id, period_start);

CREATE TABLE invoice_lines (
    invoice_id  text NOT NULL REFERENCES invoices (id),
    position    integer NOT NULL CHECK (position >= 1),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    amount      numeric(20, 6) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (invoice_id, position)
);

CREATE TABLE usage_records (
    id              text PRIMARY KEY,
    seq             bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    subscription_id text NOT NULL REFERENCES subscriptions (id),
    amount          numeric(20, 6) NOT NULL CHECK (amount > 0),
    description     text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    occurred_at     timestamptz NOT NULL,
    -- set when an invoice bills this usage
    invoice_id      text REFERENCES invoices (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_subscription ON usage_records (subscription_id, occurred_at) WHERE invoice_id IS NULL;

-- Every payment attempt (and every wallet part, reconciliation) is a transaction on the invoice.
CREATE TABLE invoice_transactions (
    id                 text PRIMARY KEY,
    seq                bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    invoice_id         text NOT NULL REFERENCES invoices (id),
    attempt            integer NOT NULL CHECK (attempt >= 0),
    method             text NOT NULL CHECK (method IN ('wallet', 'card', 'direct_debit', 'bank_transfer', 'manual')),
    amount             numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL CHECK (status IN ('pending', 'settled', 'failed', 'cancelled')),
    error_type         text CHECK (error_type IN ('authentication_required', 'payment_method_authorization_error',
                           'payment_method_declined', 'payment_method_expired', 'payment_method_invalid',
                           'payment_method_not_supported', 'declined', 'fraud', 'processing_error',
                           'provider_error', 'unknown')),
    provider_code      text,
    decline_code       text,
    provider_message   text,
    provider_reference text,
    payment_method_id  text REFERENCES payment_methods (id),
    -- the PSP idempotency key (<invoice_id>:attempt:<n>), or the reconciliation's key
    idempotency_key    text UNIQUE,
    reference          text,
    paid_at            timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_transactions_failed_has_type CHECK ((status = 'failed') = (error_type IS NOT NULL))
);
CREATE INDEX invoice_transactions_invoice ON invoice_transactions (invoice_id, seq);
CREATE INDEX invoice_transactions_reference ON invoice_transactions (provider_reference);

---- create above / drop below ----

DROP TABLE invoice_transactions;
DROP TABLE usage_records;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE subscriptions;
