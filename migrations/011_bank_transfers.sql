-- Bank transfers through the payment provider (DESIGN.md "Invoice payment" item 8): the
-- funding instructions a provider gave for an invoice (a Stripe customer-balance
-- PaymentIntent, a simulated virtual account), and the simulated provider's own bank
-- transfers with the incoming-transfer events it reports later.

-- One provider funding per invoice: where the customer pays and what to write on the
-- transfer. Events about the funding find their invoice by (provider, provider_reference).
CREATE TABLE invoice_bank_transfers (
    invoice_id         text PRIMARY KEY REFERENCES invoices (id),
    provider           text NOT NULL CHECK (provider <> ''),
    -- the provider's id of the funding: "pi_…" (Stripe), "sbt_…" (simulated)
    provider_reference text NOT NULL CHECK (provider_reference <> ''),
    amount             numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- payments.BankTransferInstructions as JSON (account, reference, hosted page)
    instructions       jsonb NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_reference)
);

-- The simulated provider's bank transfers: one per idempotency key (an invoice).
CREATE TABLE sim_bank_transfers (
    id                 text PRIMARY KEY CHECK (id LIKE 'sbt\_%'),
    idempotency_key    text NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    customer_ref       text NOT NULL CHECK (customer_ref <> ''),
    payment_method_ref text NOT NULL DEFAULT '',
    amount             numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    iban               text NOT NULL,
    reference          text NOT NULL,
    metadata           jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL
);

-- The incoming transfers the simulated customer makes, each reported as an event once
-- due_at has passed (delivered at least once). received is the transfer's running total.
CREATE TABLE sim_bank_transfer_events (
    id            text PRIMARY KEY CHECK (id LIKE 'evt\_%'),
    transfer_id   text NOT NULL REFERENCES sim_bank_transfers (id),
    seq           integer NOT NULL CHECK (seq > 0),
    amount        numeric(20, 6) NOT NULL CHECK (amount > 0),
    received      numeric(20, 6) NOT NULL CHECK (received > 0),
    due_at        timestamptz NOT NULL,
    delivered_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    UNIQUE (transfer_id, seq)
);

CREATE INDEX sim_bank_transfer_events_due ON sim_bank_transfer_events (due_at) WHERE delivered_at IS NULL;

---- create above / drop below ----

DROP TABLE sim_bank_transfer_events;
DROP TABLE sim_bank_transfers;
DROP TABLE invoice_bank_transfers;
