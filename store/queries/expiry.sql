-- Credit expiry (expiring credit lots) and load reversals: see
-- migrations/014_wallet_expiry_reversal.sql.

-- name: CreateCreditLot :one
INSERT INTO wallet_credit_lots (wallet_transaction_id, wallet_id, amount, remaining, expires_at)
VALUES (@wallet_transaction_id, @wallet_id, @amount, @amount, @expires_at)
RETURNING *;

-- name: GetCreditLot :one
SELECT * FROM wallet_credit_lots WHERE wallet_transaction_id = $1;

-- name: LockCreditLot :one
SELECT * FROM wallet_credit_lots WHERE wallet_transaction_id = $1 FOR UPDATE;

-- name: CloseCreditLot :one
-- An expiry with nothing left to debit (the credit was spent or reverted): the lot is
-- closed without a ledger row.
UPDATE wallet_credit_lots SET expired_at = now()
WHERE wallet_transaction_id = $1 AND expired_at IS NULL AND remaining = 0
RETURNING *;

-- name: ExpireWalletCredit :one
-- Debits what is left of an expiring credit (type expiry), in one statement; the ledger's
-- trigger closes the lot. No row: the balance did not cover it.
WITH w AS (
    UPDATE wallets SET balance = balance - @amount::numeric, updated_at = now()
    WHERE id = @wallet_id::text AND balance >= @amount::numeric
    RETURNING id, balance, currency
)
INSERT INTO wallet_transactions (id, wallet_id, type, amount, currency, source, original_transaction_id, balance_after)
SELECT @id::text, w.id, 'expiry', @amount::numeric, w.currency, 'expiry', @original_transaction_id::text, w.balance
FROM w
RETURNING *;

-- name: MarkCreditExpiryStarted :exec
UPDATE wallet_credit_lots SET workflow_started_at = now()
WHERE wallet_transaction_id = $1 AND workflow_started_at IS NULL;

-- name: ListUnscheduledCreditExpiries :many
-- Open expiring credits whose expiry workflow is not known to be started, created before
-- the grace period (their own request may still be starting them).
SELECT * FROM wallet_credit_lots
WHERE workflow_started_at IS NULL AND expired_at IS NULL
  AND created_at < now() - make_interval(secs => @grace_seconds::float8)
ORDER BY created_at
LIMIT @max_rows;

-- name: GetLoadReversal :one
SELECT * FROM wallet_load_reversals WHERE load_id = $1;

-- name: CreateLoadReversal :one
INSERT INTO wallet_load_reversals (load_id, wallet_id, customer_id, provider, event_id, reason, provider_code, message,
                                   amount, currency, taken_back, invoiced, wallet_transaction_id, invoice_id)
VALUES (@load_id, @wallet_id, @customer_id, @provider, @event_id, @reason, @provider_code, @message,
        @amount, @currency, @taken_back, @invoiced, sqlc.narg(wallet_transaction_id), sqlc.narg(invoice_id))
RETURNING *;

-- name: LedgerCreateReversalInvoice :one
-- The invoice for the part of a reversed load the wallet no longer held: a standard
-- invoice, collected like any other.
INSERT INTO invoices (id, customer_id, kind, currency, payment_method, total)
VALUES (@id, @customer_id, 'standard', @currency, @payment_method, @total)
RETURNING *;
