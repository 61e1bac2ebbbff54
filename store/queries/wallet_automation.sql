-- Wallet automation (migrations/013_wallet_automation.sql): auto top-up and the
-- low-balance alert. Package ledger runs these with the wallet row locked.

-- name: SetWalletAutoTopUp :one
-- Sets (or, with a null amount, removes) the auto top-up; a new setting is active with no
-- failures counted.
UPDATE wallets
SET auto_top_up_below = sqlc.narg(below)::numeric,
    auto_top_up_amount = sqlc.narg(amount)::numeric,
    auto_top_up_monthly_on = sqlc.narg(monthly_on)::smallint,
    auto_top_up_failures = 0, auto_top_up_disabled_at = NULL, auto_top_up_last_error = NULL,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetWalletAlertBelow :one
-- Sets (or, with null, removes) the low-balance threshold; a changed threshold arms the
-- alert again (the caller evaluates it at once), the same one keeps its state (no second
-- alert for a settings PATCH that repeats it).
UPDATE wallets
SET balance_low = CASE WHEN alert_below IS DISTINCT FROM sqlc.narg(alert_below)::numeric THEN false ELSE balance_low END,
    alert_below = sqlc.narg(alert_below)::numeric, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetWalletBalanceLow :exec
UPDATE wallets SET balance_low = @balance_low WHERE id = @id;

-- name: RecordAutoTopUpFailure :one
-- Counts a failed auto load; the limit-th failure in a row switches the auto top-up off.
UPDATE wallets
SET auto_top_up_failures = auto_top_up_failures + 1,
    auto_top_up_last_error = @last_error,
    auto_top_up_disabled_at = CASE WHEN auto_top_up_failures + 1 >= @lim::integer THEN now() END,
    updated_at = now()
WHERE id = @id AND auto_top_up_amount IS NOT NULL AND auto_top_up_disabled_at IS NULL
RETURNING *;

-- name: PreviousAutoLoadReversed :one
-- Whether the wallet's latest completed auto load before @load_id was reversed after it
-- settled (a bouncing direct debit: the settlement of the next one proves nothing yet).
SELECT EXISTS (SELECT 1 FROM wallet_load_reversals r
               WHERE r.load_id = (SELECT p.id FROM wallet_loads p
                                  WHERE p.wallet_id = @wallet_id AND p.auto_top_up IS NOT NULL
                                    AND p.id <> @load_id::text AND p.status IN ('settled', 'failed')
                                  ORDER BY p.seq DESC LIMIT 1))::boolean AS reversed;

-- name: NoteAutoTopUpProblem :exec
-- Records why the auto top-up could not load (no usable payment method) without counting
-- a failure: no load was attempted.
UPDATE wallets SET auto_top_up_last_error = @last_error, updated_at = now()
WHERE id = @id AND auto_top_up_amount IS NOT NULL AND auto_top_up_last_error IS DISTINCT FROM @last_error;

-- name: ResetAutoTopUpFailures :exec
UPDATE wallets SET auto_top_up_failures = 0, auto_top_up_last_error = NULL
WHERE id = @id AND auto_top_up_failures > 0;

-- name: HasPendingAutoTopUp :one
-- Whether the wallet has its one auto load in flight, whatever its kind.
SELECT EXISTS (SELECT 1 FROM wallet_loads
               WHERE wallet_id = @wallet_id AND auto_top_up IS NOT NULL AND status = 'pending')::boolean AS pending;

-- name: GetPendingAutoTopUpLoad :one
-- The wallet's one auto load in flight, whatever its kind.
SELECT * FROM wallet_loads WHERE wallet_id = @wallet_id AND auto_top_up IS NOT NULL AND status = 'pending';

-- name: CreateAutoTopUpLoad :one
-- A pending paid load made by the auto top-up; no row when the wallet already has the one
-- auto load it may have in flight (of either kind) or this month's (kind monthly).
INSERT INTO wallet_loads (id, wallet_id, customer_id, type, source, amount, currency, status,
                          payment_method_id, auto_top_up, auto_top_up_period)
VALUES (@id, @wallet_id, @customer_id, 'paid', 'api', @amount, @currency, 'pending',
        @payment_method_id, @auto_top_up, sqlc.narg(period))
ON CONFLICT DO NOTHING
RETURNING *;

-- name: GetMonthlyAutoTopUpLoad :one
SELECT * FROM wallet_loads WHERE wallet_id = @wallet_id AND auto_top_up = 'monthly' AND auto_top_up_period = @period;

-- name: UnstartedAutoTopUpLoads :many
-- Auto loads whose WalletLoad workflow has not claimed them yet (no one-off invoice):
-- every below-triggered one (nothing else starts it), and monthly ones older than the
-- grace (their schedule's workflow starts them itself).
SELECT * FROM wallet_loads
WHERE auto_top_up IS NOT NULL AND status = 'pending' AND invoice_id IS NULL
  AND (auto_top_up = 'below' OR created_at < now() - make_interval(secs => @grace_seconds::double precision))
ORDER BY created_at
LIMIT @lim;
