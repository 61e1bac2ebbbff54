-- Wallet automation (DESIGN.md "Wallet automation"): auto top-up and the low-balance alert.
--
-- Auto top-up: the wallet's settings (below, amount, monthly_on), its state (how many auto
-- loads failed in a row; when it switched itself off), and on each wallet load which kind
-- of automation made it. A debit that leaves the balance under `below` writes a pending
-- paid load (auto_top_up = 'below') in its own transaction; the worker's sweeper starts its
-- WalletLoad workflow. The partial unique index below makes two such loads in flight for
-- one wallet impossible, whatever the concurrency. The monthly load (auto_top_up =
-- 'monthly') is made once per wallet and month (auto_top_up_period, unique).
--
-- Low-balance alert: alert_below and balance_low, the alert's state (true: the alert was
-- sent and is not re-armed yet), changed with the wallet row locked by package ledger.

ALTER TABLE wallets
    ADD COLUMN auto_top_up_below       numeric(20, 6) CHECK (auto_top_up_below > 0),
    ADD COLUMN auto_top_up_amount      numeric(20, 6) CHECK (auto_top_up_amount > 0),
    ADD COLUMN auto_top_up_monthly_on  smallint CHECK (auto_top_up_monthly_on BETWEEN 1 AND 28),
    ADD COLUMN auto_top_up_failures    integer NOT NULL DEFAULT 0 CHECK (auto_top_up_failures >= 0),
    ADD COLUMN auto_top_up_disabled_at timestamptz,
    ADD COLUMN auto_top_up_last_error  text,
    ADD COLUMN alert_below             numeric(20, 6) CHECK (alert_below >= 0),
    ADD COLUMN balance_low             boolean NOT NULL DEFAULT false,
    -- an auto top-up has an amount and at least one trigger; without an amount it is off
    ADD CONSTRAINT wallets_auto_top_up CHECK (
        (auto_top_up_amount IS NULL) = (auto_top_up_below IS NULL AND auto_top_up_monthly_on IS NULL)),
    ADD CONSTRAINT wallets_auto_top_up_disabled CHECK (auto_top_up_disabled_at IS NULL OR auto_top_up_amount IS NOT NULL);

ALTER TABLE wallet_loads
    ADD COLUMN auto_top_up        text CHECK (auto_top_up IN ('below', 'monthly')),
    -- the month (YYYY-MM, UTC) a monthly auto load is for
    ADD COLUMN auto_top_up_period text CHECK (auto_top_up_period ~ '^[0-9]{4}-[0-9]{2}$'),
    ADD CONSTRAINT wallet_loads_auto_top_up_paid CHECK (auto_top_up IS NULL OR type = 'paid'),
    ADD CONSTRAINT wallet_loads_auto_top_up_period CHECK ((auto_top_up = 'monthly') = (auto_top_up_period IS NOT NULL));

-- one auto load in flight per wallet, whatever its kind (below-triggered or monthly)
CREATE UNIQUE INDEX wallet_loads_one_auto_top_up ON wallet_loads (wallet_id)
    WHERE auto_top_up IS NOT NULL AND status = 'pending';
-- one monthly auto load per wallet and month
CREATE UNIQUE INDEX wallet_loads_monthly_period ON wallet_loads (wallet_id, auto_top_up_period)
    WHERE auto_top_up = 'monthly';
-- the sweeper's look-up: auto loads whose workflow has not claimed them yet
CREATE INDEX wallet_loads_auto_unstarted ON wallet_loads (created_at)
    WHERE auto_top_up IS NOT NULL AND status = 'pending' AND invoice_id IS NULL;

---- create above / drop below ----

DROP INDEX wallet_loads_auto_unstarted;
DROP INDEX wallet_loads_monthly_period;
DROP INDEX wallet_loads_one_auto_top_up;
ALTER TABLE wallet_loads
    DROP CONSTRAINT wallet_loads_auto_top_up_period,
    DROP CONSTRAINT wallet_loads_auto_top_up_paid,
    DROP COLUMN auto_top_up_period,
    DROP COLUMN auto_top_up;
ALTER TABLE wallets
    DROP CONSTRAINT wallets_auto_top_up_disabled,
    DROP CONSTRAINT wallets_auto_top_up,
    DROP COLUMN balance_low,
    DROP COLUMN alert_below,
    DROP COLUMN auto_top_up_last_error,
    DROP COLUMN auto_top_up_disabled_at,
    DROP COLUMN auto_top_up_failures,
    DROP COLUMN auto_top_up_monthly_on,
    DROP COLUMN auto_top_up_amount,
    DROP COLUMN auto_top_up_below;
