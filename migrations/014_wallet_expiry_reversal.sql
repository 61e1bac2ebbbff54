-- Wallet automation: credit expiry and load reversal (issue 15).
--
-- Credit expiry. A free load may carry expires_at: its credit is a lot
-- (wallet_credit_lots) whose remaining amount every invoice debit of the wallet consumes first,
-- soonest expiry first, before the money that never expires (which has no lot; a revert
-- or a load reversal takes that money first). At
-- expires_at the lot's remaining amount is debited (type expiry, source expiry,
-- original_transaction_id = the credit), once: the unique index on
-- original_transaction_id lets a credit be either reverted or expired, never both, and
-- never twice. Invariant kept by every debit: sum(remaining of open lots) <= balance.
--
-- The lots are consumed by a trigger on the ledger, so no debit can forget them: the SQL
-- debit of an invoice (ledger_debit_for_invoice, one round trip still), a revert (which
-- takes its own credit's lot first, then the money that never expires), a load reversal
-- (the money that never expires first) and an expiry. Every debit holds the
-- wallet row lock when it inserts its row, so the lots of a wallet are only ever changed
-- under that lock.
--
-- Load reversal. A settled paid load whose charge the provider later reverses (a SEPA
-- return, a chargeback) gives back what the wallet still holds of it (a debit, source
-- load_reversal, never below zero) and opens an invoice for the rest; one row per load in
-- wallet_load_reversals (its primary key) makes it happen at most once per load.

ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_type_check;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_type_check
    CHECK (type IN ('credit_paid', 'credit_free', 'debit', 'expiry'));
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_source_check;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_source_check
    CHECK (source IN ('operator', 'api', 'portal', 'invoice', 'invoice_void', 'revert', 'expiry', 'load_reversal'));
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_source;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_source CHECK (
    CASE type
        WHEN 'debit' THEN source IN ('invoice', 'revert', 'load_reversal')
        WHEN 'expiry' THEN source = 'expiry'
        WHEN 'credit_free' THEN source IN ('operator', 'api', 'portal')
        ELSE source IN ('operator', 'api', 'portal', 'invoice_void')
    END);
-- a revert and an expiry name the credit they take from
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_revert;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_revert
    CHECK ((source IN ('revert', 'expiry')) = (original_transaction_id IS NOT NULL));
-- only credits are reverted
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_reverted_credit;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_reverted_credit
    CHECK (reverted_by IS NULL OR type IN ('credit_paid', 'credit_free'));

-- An expiring credit (a free load with expires_at) and what is left of it.
CREATE TABLE wallet_credit_lots (
    wallet_transaction_id text PRIMARY KEY REFERENCES wallet_transactions (id),
    seq                   bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    wallet_id             text NOT NULL REFERENCES wallets (id),
    amount                numeric(20, 6) NOT NULL CHECK (amount > 0),
    remaining             numeric(20, 6) NOT NULL,
    expires_at            timestamptz NOT NULL,
    -- when the expiry ran (its debit, if anything was left, is expiry_transaction_id)
    expired_at            timestamptz,
    -- one expiry debit per credit
    expiry_transaction_id text UNIQUE REFERENCES wallet_transactions (id),
    -- when its credit-expiry workflow was known to be started (the sweeper starts the rest)
    workflow_started_at   timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallet_credit_lots_remaining CHECK (remaining >= 0 AND remaining <= amount),
    CONSTRAINT wallet_credit_lots_expired CHECK (expiry_transaction_id IS NULL OR expired_at IS NOT NULL),
    CONSTRAINT wallet_credit_lots_closed CHECK (expired_at IS NULL OR remaining = 0)
);
-- what debits consume, in order
CREATE INDEX wallet_credit_lots_open ON wallet_credit_lots (wallet_id, expires_at, seq) WHERE remaining > 0;
-- what the sweeper schedules
CREATE INDEX wallet_credit_lots_unscheduled ON wallet_credit_lots (created_at)
    WHERE workflow_started_at IS NULL AND expired_at IS NULL;

-- The credit note of an expiring free load shows when it expires.
ALTER TABLE credit_notes ADD COLUMN expires_at timestamptz;

-- wallet_transactions_consume_lots keeps the lots in step with the ledger: an expiry
-- closes its own lot; a revert empties its own credit's lot first; then an invoice debit
-- consumes the open lots, soonest expiry first, while a revert's rest and a load reversal
-- take the money that never expires first and the open lots (soonest first) only for
-- what that money cannot cover.
CREATE FUNCTION wallet_transactions_consume_lots() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    left_over numeric := NEW.amount;
    own       numeric;
    lot       record;
    take      numeric;
    lots      numeric;
BEGIN
    IF NEW.type = 'expiry' THEN
        UPDATE wallet_credit_lots l SET remaining = 0, expired_at = NEW.created_at, expiry_transaction_id = NEW.id
        WHERE l.wallet_transaction_id = NEW.original_transaction_id AND l.expired_at IS NULL
          AND l.remaining = NEW.amount;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'expiry % of %: the credit has no open lot holding %', NEW.id, NEW.original_transaction_id, NEW.amount
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.source IN ('revert', 'load_reversal') THEN
        -- what the open lots held before this debit (the revert's own lot included)
        SELECT coalesce(sum(l.remaining), 0) INTO lots FROM wallet_credit_lots l
        WHERE l.wallet_id = NEW.wallet_id AND l.remaining > 0;
    END IF;
    IF NEW.source = 'revert' THEN
        SELECT l.remaining INTO own FROM wallet_credit_lots l
        WHERE l.wallet_transaction_id = NEW.original_transaction_id AND l.remaining > 0;
        IF FOUND THEN
            UPDATE wallet_credit_lots l SET remaining = 0 WHERE l.wallet_transaction_id = NEW.original_transaction_id;
            left_over := NEW.amount - own;
        END IF;
    END IF;
    IF NEW.source IN ('revert', 'load_reversal') THEN
        -- A revert or a load reversal takes money the customer paid (or was given) back:
        -- it takes the money that never expires first, and from the other lots only what
        -- that money cannot cover (balance before the debit = balance_after + amount;
        -- the money that never expires = that balance - what the lots held). Spending an
        -- expiring credit here would keep it from ever expiring.
        left_over := greatest(0, left_over - ((NEW.balance_after + NEW.amount) - lots));
    END IF;
    FOR lot IN
        SELECT l.wallet_transaction_id, l.remaining FROM wallet_credit_lots l
        WHERE l.wallet_id = NEW.wallet_id AND l.remaining > 0
        ORDER BY l.expires_at, l.seq
    LOOP
        EXIT WHEN left_over <= 0;
        take := least(lot.remaining, left_over);
        UPDATE wallet_credit_lots l SET remaining = l.remaining - take WHERE l.wallet_transaction_id = lot.wallet_transaction_id;
        left_over := left_over - take;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER wallet_transactions_consume_lots
    AFTER INSERT ON wallet_transactions
    FOR EACH ROW WHEN (NEW.type IN ('debit', 'expiry'))
    EXECUTE FUNCTION wallet_transactions_consume_lots();

-- A reversal of a settled paid load, at most once per load.
CREATE TABLE wallet_load_reversals (
    load_id               text PRIMARY KEY REFERENCES wallet_loads (id),
    seq                   bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    wallet_id             text NOT NULL REFERENCES wallets (id),
    customer_id           text NOT NULL REFERENCES customers (id),
    -- the provider event that reported it (the first one; duplicates change nothing)
    provider              text NOT NULL,
    event_id              text NOT NULL,
    -- reversed (a SEPA return, a chargeback) or failed (a direct debit that failed after settling)
    reason                text NOT NULL,
    provider_code         text NOT NULL DEFAULT '',
    message               text NOT NULL DEFAULT '',
    amount                numeric(20, 6) NOT NULL CHECK (amount > 0),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- what the wallet gave back, and what is invoiced: together the load's amount
    taken_back            numeric(20, 6) NOT NULL CHECK (taken_back >= 0),
    invoiced              numeric(20, 6) NOT NULL CHECK (invoiced >= 0),
    wallet_transaction_id text UNIQUE REFERENCES wallet_transactions (id),
    invoice_id            text UNIQUE REFERENCES invoices (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallet_load_reversals_whole CHECK (taken_back + invoiced = amount),
    CONSTRAINT wallet_load_reversals_taken CHECK ((taken_back > 0) = (wallet_transaction_id IS NOT NULL)),
    CONSTRAINT wallet_load_reversals_invoiced CHECK ((invoiced > 0) = (invoice_id IS NOT NULL))
);

-- The simulated provider's second event of a charge that settles then is returned.
ALTER TABLE sim_charges DROP CONSTRAINT sim_charges_event_status_check;
ALTER TABLE sim_charges ADD CONSTRAINT sim_charges_event_status_check
    CHECK (event_status IN ('', 'settled', 'failed', 'reversed'));

---- create above / drop below ----

ALTER TABLE sim_charges DROP CONSTRAINT sim_charges_event_status_check;
ALTER TABLE sim_charges ADD CONSTRAINT sim_charges_event_status_check CHECK (event_status IN ('', 'settled', 'failed'));
DROP TABLE wallet_load_reversals;
DROP TRIGGER wallet_transactions_consume_lots ON wallet_transactions;
DROP FUNCTION wallet_transactions_consume_lots();
ALTER TABLE credit_notes DROP COLUMN expires_at;
DROP TABLE wallet_credit_lots;
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_reverted_credit;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_reverted_credit CHECK (reverted_by IS NULL OR type <> 'debit');
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_revert;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_revert CHECK ((source = 'revert') = (original_transaction_id IS NOT NULL));
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_source;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_source CHECK (
    CASE type
        WHEN 'debit' THEN source IN ('invoice', 'revert')
        WHEN 'credit_free' THEN source IN ('operator', 'api', 'portal')
        ELSE source IN ('operator', 'api', 'portal', 'invoice_void')
    END);
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_source_check;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_source_check
    CHECK (source IN ('operator', 'api', 'portal', 'invoice', 'invoice_void', 'revert'));
ALTER TABLE wallet_transactions DROP CONSTRAINT wallet_transactions_type_check;
ALTER TABLE wallet_transactions ADD CONSTRAINT wallet_transactions_type_check
    CHECK (type IN ('credit_paid', 'credit_free', 'debit'));
