-- The customer-present card steps of the portal: saving a card through the provider's own
-- form (a SetupIntent) and paying an invoice with 3-D Secure (an on-session PaymentIntent).
-- Card numbers never reach payorch: with Stripe, Stripe.js talks to Stripe and payorch
-- only verifies the outcome; the simulated provider keeps its intents here.

-- sim_intents: the simulated provider's SetupIntents ("seti_sim_…", kind setup) and
-- on-session PaymentIntents ("pi_sim_…", kind payment). status: requires_action until the
-- customer picks a test card (setup) or answers the simulated challenge (payment), then
-- succeeded or failed, never again changed.
CREATE TABLE sim_intents (
    id                 text PRIMARY KEY,
    kind               text NOT NULL CHECK (kind IN ('setup', 'payment')),
    client_secret      text NOT NULL,
    customer_ref       text NOT NULL,
    status             text NOT NULL CHECK (status IN ('requires_action', 'succeeded', 'failed')),
    payment_method_ref text,
    amount             numeric(20, 6) CHECK (amount > 0),
    currency           text,
    idempotency_key    text UNIQUE,
    metadata           jsonb NOT NULL DEFAULT '{}',
    error_message      text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    decided_at         timestamptz,
    CONSTRAINT sim_intents_payment_amount CHECK (kind = 'setup' OR (amount IS NOT NULL AND currency IS NOT NULL AND payment_method_ref IS NOT NULL)),
    CONSTRAINT sim_intents_decided CHECK ((status = 'requires_action') = (decided_at IS NULL))
);

-- card_on_session: a card payment the customer authenticated in the portal (3-D Secure),
-- applied to the invoice as a reconciliation whose reference is the PaymentIntent id.
ALTER TABLE invoice_transactions DROP CONSTRAINT invoice_transactions_method_check;
ALTER TABLE invoice_transactions ADD CONSTRAINT invoice_transactions_method_check
    CHECK (method IN ('wallet', 'card', 'direct_debit', 'bank_transfer', 'manual', 'card_on_session'));

---- create above / drop below ----

ALTER TABLE invoice_transactions DROP CONSTRAINT invoice_transactions_method_check;
ALTER TABLE invoice_transactions ADD CONSTRAINT invoice_transactions_method_check
    CHECK (method IN ('wallet', 'card', 'direct_debit', 'bank_transfer', 'manual'));
DROP TABLE sim_intents;
