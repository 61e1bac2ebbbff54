-- Foundation: customers, payment methods, API idempotency keys and the event outbox.

CREATE TABLE customers (
    id                   text PRIMARY KEY,
    seq                  bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    external_id          text UNIQUE,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email                text NOT NULL CHECK (email LIKE '%_@_%'),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    language             text NOT NULL DEFAULT 'en',
    provider_customer_id text,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payment_methods (
    id          text PRIMARY KEY,
    seq         bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id text NOT NULL REFERENCES customers (id),
    external_id text UNIQUE,
    type        text NOT NULL CHECK (type IN ('card', 'direct_debit', 'bank_transfer')),
    provider_id text,
    exp_month   integer CHECK (exp_month BETWEEN 1 AND 12),
    exp_year    integer CHECK (exp_year BETWEEN 2000 AND 2200),
    last4       text CHECK (last4 ~ '^[0-9]{4}$'),
    is_default  boolean NOT NULL DEFAULT false,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'errored', 'detached')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- a card has an expiry, nothing else has one
    CONSTRAINT payment_methods_expiry CHECK ((type = 'card') = (exp_month IS NOT NULL AND exp_year IS NOT NULL)),
    -- only a bank transfer can exist without a provider id
    CONSTRAINT payment_methods_provider_id CHECK (type = 'bank_transfer' OR provider_id IS NOT NULL)
);
-- at most one default payment method per customer
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (customer_id) WHERE is_default;
CREATE INDEX payment_methods_customer ON payment_methods (customer_id, seq);

-- Idempotency-Key of POST requests: the first response is stored and replayed.
CREATE TABLE idempotency_keys (
    scope         text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method        text NOT NULL,
    path          text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer,
    response_body bytea,
    locked_at     timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- The outbox: every state change a merchant cares about writes a row here in the same
-- transaction as the change. Delivery reads it in seq order.
CREATE TABLE events (
    id            text PRIMARY KEY,
    seq           bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    type          text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    customer_id   text,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_resource ON events (resource_id, seq);

---- create above / drop below ----

DROP TABLE events;
DROP TABLE idempotency_keys;
DROP TABLE payment_methods;
DROP TABLE customers;
