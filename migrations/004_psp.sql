-- Payment service providers: the simulated provider's durable charges, and the inbound
-- provider events (Stripe webhooks) already processed.

-- One row per charge the simulated provider accepted, keyed by the caller's idempotency
-- key: the same key always returns this row's result, whatever crashes or concurrent calls.
-- Tests count these rows to prove that nothing is charged twice.
CREATE TABLE sim_charges (
    -- "sim_…": ChargeResult.Reference
    id                 text PRIMARY KEY CHECK (id LIKE 'sim\_%'),
    seq                bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    idempotency_key    text NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    payment_method_ref text NOT NULL CHECK (payment_method_ref <> ''),
    -- the provider customer id; '' when the caller had none
    customer_ref       text NOT NULL DEFAULT '',
    amount             numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description        text NOT NULL DEFAULT '',
    -- the result returned to the caller (and replayed for the same key)
    status             text NOT NULL CHECK (status IN ('settled', 'pending', 'failed')),
    error_type         text NOT NULL DEFAULT '',
    hard_decline       boolean NOT NULL DEFAULT false,
    provider_code      text NOT NULL DEFAULT '',
    decline_code       text NOT NULL DEFAULT '',
    message            text NOT NULL DEFAULT '',
    metadata           jsonb NOT NULL DEFAULT '{}',
    -- the asynchronous outcome of a pending charge (SEPA), reported as an event
    -- "evt_sim_…" once event_due_at has passed; delivered at least once
    event_id           text UNIQUE,
    event_status       text NOT NULL DEFAULT '' CHECK (event_status IN ('', 'settled', 'failed')),
    event_error_type   text NOT NULL DEFAULT '',
    event_hard_decline boolean NOT NULL DEFAULT false,
    event_provider_code text NOT NULL DEFAULT '',
    event_decline_code text NOT NULL DEFAULT '',
    event_message      text NOT NULL DEFAULT '',
    event_due_at       timestamptz,
    event_delivered_at timestamptz,
    -- failed deliveries (the handler returned an error) and the last error
    event_attempts     integer NOT NULL DEFAULT 0,
    event_last_error   text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((event_id IS NULL) = (event_due_at IS NULL)),
    CHECK ((event_id IS NULL) = (event_status = '')),
    CHECK (event_delivered_at IS NULL OR event_id IS NOT NULL)
);

-- "fail N times then settle" counts earlier charges of a payment method and customer.
CREATE INDEX sim_charges_payment_method ON sim_charges (payment_method_ref, customer_ref);

-- The event poller's queue: due, undelivered events.
CREATE INDEX sim_charges_events_due ON sim_charges (event_due_at)
    WHERE event_id IS NOT NULL AND event_delivered_at IS NULL;

-- Calls that met a simulated provider outage, per idempotency key (they are not charges).
CREATE TABLE sim_outage_calls (
    idempotency_key text PRIMARY KEY,
    calls           integer NOT NULL CHECK (calls > 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Inbound provider events (Stripe webhooks), so each is processed at most once. A row is
-- inserted in the transaction that hands the event to its handler and committed only when
-- the handler succeeded: a failed or interrupted delivery leaves nothing behind, and the
-- provider's retry processes the event again.
CREATE TABLE provider_events (
    provider     text NOT NULL,
    event_id     text NOT NULL,
    -- the charge the event is about and the status it reports (for operators)
    reference    text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    PRIMARY KEY (provider, event_id)
);
