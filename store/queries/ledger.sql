-- Wallet ledger (package ledger). Every balance change is one statement that moves
-- wallets.balance and appends the ledger row together (CreditWallet, DebitWallet).

-- name: CreateWallet :one
INSERT INTO wallets (id, customer_id, currency, auto_debit, portal_top_up)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetWallet :one
SELECT * FROM wallets WHERE id = $1;

-- name: GetWalletByCustomer :one
SELECT * FROM wallets WHERE customer_id = $1;

-- name: ListWallets :many
SELECT * FROM wallets
WHERE (sqlc.narg(customer_id)::text IS NULL OR customer_id = sqlc.narg(customer_id)::text)
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @lim;

-- name: LockWallet :one
SELECT * FROM wallets WHERE id = $1 FOR UPDATE;

-- name: LockWalletByCustomer :one
SELECT * FROM wallets WHERE customer_id = $1 FOR UPDATE;

-- name: UpdateWalletSettings :one
UPDATE wallets
SET auto_debit    = COALESCE(sqlc.narg(auto_debit)::boolean, auto_debit),
    portal_top_up = COALESCE(sqlc.narg(portal_top_up)::boolean, portal_top_up),
    updated_at    = now()
WHERE id = @id
RETURNING *;

-- name: WalletProjectedBalance :one
-- balance − unpaid standard invoices of the customer (to_pay, error: their amount_due)
--         − each active subscription's amount when no invoice covers its current period yet
--         − usage of active subscriptions in [current_period_start, current_period_end) not yet invoiced.
SELECT (w.balance
    - COALESCE((SELECT sum(i.amount_due) FROM invoices i
                WHERE i.customer_id = w.customer_id AND i.kind = 'standard'
                  AND i.status IN ('to_pay', 'error')), 0)
    - COALESCE((SELECT sum(s.amount) FROM subscriptions s
                WHERE s.customer_id = w.customer_id AND s.status = 'active'
                  AND NOT EXISTS (SELECT 1 FROM invoices i
                                  WHERE i.subscription_id = s.id AND i.period_start = s.current_period_start)), 0)
    - COALESCE((SELECT sum(u.amount) FROM usage_records u JOIN subscriptions s ON s.id = u.subscription_id
                WHERE s.customer_id = w.customer_id AND s.status = 'active' AND u.invoice_id IS NULL
                  AND u.occurred_at >= s.current_period_start AND u.occurred_at < s.current_period_end), 0)
    )::numeric AS projected_balance
FROM wallets w
WHERE w.id = $1;

-- name: CreditWallet :one
-- Adds amount to the balance and appends the credit, in one statement.
WITH w AS (
    UPDATE wallets SET balance = balance + @amount::numeric, updated_at = now()
    WHERE id = @wallet_id::text
    RETURNING id, balance, currency
)
INSERT INTO wallet_transactions (id, wallet_id, type, amount, currency, source, invoice_id, load_id, balance_after)
SELECT @id::text, w.id, @type::text, @amount::numeric, w.currency, @source::text,
       sqlc.narg(invoice_id)::text, sqlc.narg(load_id)::text, w.balance
FROM w
RETURNING *;

-- name: DebitWallet :one
-- Takes amount from the balance only if the balance covers it, and appends the debit, in
-- one statement. No row: the balance did not cover it (or no such wallet).
WITH w AS (
    UPDATE wallets SET balance = balance - @amount::numeric, updated_at = now()
    WHERE id = @wallet_id::text AND balance >= @amount::numeric
    RETURNING id, balance, currency
)
INSERT INTO wallet_transactions (id, wallet_id, type, amount, currency, source, invoice_id, attempt, original_transaction_id, balance_after)
SELECT @id::text, w.id, 'debit', @amount::numeric, w.currency, @source::text,
       sqlc.narg(invoice_id)::text, sqlc.narg(attempt)::integer, sqlc.narg(original_transaction_id)::text, w.balance
FROM w
RETURNING *;

-- name: GetWalletTransaction :one
SELECT * FROM wallet_transactions WHERE id = $1 AND wallet_id = $2;

-- name: MarkWalletTransactionReverted :execrows
UPDATE wallet_transactions SET reverted_by = @reverted_by
WHERE id = @id AND reverted_by IS NULL AND type <> 'debit';

-- name: ListWalletTransactions :many
SELECT * FROM wallet_transactions
WHERE wallet_id = @wallet_id
  AND (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
ORDER BY seq DESC
LIMIT @lim;

-- name: GetInvoiceWalletDebit :one
SELECT * FROM wallet_transactions WHERE invoice_id = $1 AND attempt = $2 AND source = 'invoice';

-- name: GetWalletDebitAttempt :one
SELECT * FROM wallet_debit_attempts WHERE invoice_id = $1 AND attempt = $2;

-- name: RecordWalletDebitAttempt :one
INSERT INTO wallet_debit_attempts (invoice_id, attempt, wallet_id, amount, wallet_transaction_id, invoice_transaction_id, skipped)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetInvoiceVoidCredit :one
SELECT * FROM wallet_transactions WHERE invoice_id = $1 AND source = 'invoice_void';

-- name: SumInvoiceWalletDebits :many
SELECT wallet_id, sum(amount)::numeric AS total
FROM wallet_transactions
WHERE invoice_id = $1 AND source = 'invoice'
GROUP BY wallet_id;

-- name: CreateWalletLoad :one
INSERT INTO wallet_loads (id, wallet_id, customer_id, type, source, amount, currency, status,
                          payment_method_id, wallet_transaction_id, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING *;

-- name: GetWalletLoad :one
SELECT * FROM wallet_loads WHERE id = $1;

-- name: LockWalletLoad :one
SELECT * FROM wallet_loads WHERE id = $1 FOR UPDATE;

-- name: LockWalletLoadByChargeReference :one
SELECT * FROM wallet_loads WHERE charge_reference = $1 FOR UPDATE;

-- name: SumPendingWalletLoads :one
SELECT COALESCE(sum(amount), 0)::numeric AS total FROM wallet_loads WHERE wallet_id = $1 AND status = 'pending';

-- name: SetWalletLoadInvoice :one
UPDATE wallet_loads SET invoice_id = @invoice_id, updated_at = now()
WHERE id = @id AND status = 'pending' AND invoice_id IS NULL
RETURNING *;

-- name: SetWalletLoadChargeReference :one
UPDATE wallet_loads SET charge_reference = @charge_reference, updated_at = now()
WHERE id = @id AND status = 'pending'
RETURNING *;

-- name: SettleWalletLoad :one
UPDATE wallet_loads
SET status = 'settled', wallet_transaction_id = @wallet_transaction_id,
    charge_reference = COALESCE(sqlc.narg(charge_reference)::text, charge_reference),
    completed_at = now(), updated_at = now()
WHERE id = @id AND status = 'pending'
RETURNING *;

-- name: FailWalletLoad :one
UPDATE wallet_loads
SET status = 'failed', error_type = @error_type, provider_code = sqlc.narg(provider_code),
    decline_code = sqlc.narg(decline_code), error_message = sqlc.narg(error_message),
    charge_reference = COALESCE(sqlc.narg(charge_reference)::text, charge_reference),
    completed_at = now(), updated_at = now()
WHERE id = @id AND status = 'pending'
RETURNING *;

-- name: FailUnstartedWalletLoad :one
-- A paid load whose workflow could not be started: failed, unless the workflow already
-- claimed it (created its invoice), in which case the workflow owns it.
UPDATE wallet_loads
SET status = 'failed', error_type = 'unknown', error_message = @error_message, completed_at = now(), updated_at = now()
WHERE id = @id AND status = 'pending' AND invoice_id IS NULL
RETURNING *;

-- name: GetWalletLoadChargeDetails :one
-- What the PSP needs to charge a paid load.
SELECT l.id, l.amount, l.currency, l.invoice_id, l.wallet_id, l.customer_id,
       pm.type AS payment_method_type, pm.provider_id AS payment_method_ref,
       c.provider_customer_id
FROM wallet_loads l
JOIN payment_methods pm ON pm.id = l.payment_method_id
JOIN customers c ON c.id = l.customer_id
WHERE l.id = $1;

-- name: NextCreditNoteNumber :one
UPDATE document_counters SET value = value + 1 WHERE name = 'credit_note' RETURNING value;

-- name: CreateCreditNote :one
INSERT INTO credit_notes (id, number, customer_id, wallet_id, load_id, wallet_transaction_id, amount, currency, expires_at)
VALUES (@id, @number, @customer_id, @wallet_id, @load_id, @wallet_transaction_id, @amount, @currency, sqlc.narg(expires_at))
RETURNING *;

-- name: GetCreditNoteByLoad :one
SELECT * FROM credit_notes WHERE load_id = $1;

-- name: VoidCreditNote :execrows
UPDATE credit_notes SET status = 'voided', voided_at = now()
WHERE wallet_transaction_id = $1 AND status = 'issued';

-- name: NextReceiptNumber :one
SELECT nextval('receipt_number_seq')::bigint AS value;

-- name: CreateReceipt :one
INSERT INTO receipts (id, number, customer_id, wallet_id, load_id, invoice_id, wallet_transaction_id, amount, currency, payment_method)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: GetReceiptByLoad :one
SELECT * FROM receipts WHERE load_id = $1;

-- The ledger's side of invoices: the one-off invoice of a paid load, the wallet part of an
-- invoice's payment, and giving a voided invoice's wallet part back.

-- name: LedgerLockInvoice :one
SELECT * FROM invoices WHERE id = $1 FOR UPDATE;

-- name: LedgerCreateLoadInvoice :one
INSERT INTO invoices (id, customer_id, kind, currency, payment_method, total)
VALUES (@id, @customer_id, 'wallet_load', @currency, @payment_method, @total)
RETURNING *;

-- name: LedgerCreateInvoiceLine :exec
INSERT INTO invoice_lines (invoice_id, position, description, amount) VALUES ($1, $2, $3, $4);

-- name: LedgerAddInvoicePayment :one
UPDATE invoices SET amount_paid = amount_paid + @amount::numeric, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: LedgerSubtractInvoicePayment :one
UPDATE invoices SET amount_paid = amount_paid - @amount::numeric, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: LedgerMarkLoadInvoicePaid :one
UPDATE invoices SET amount_paid = total, status = 'paid', paid_at = now(), attempt_count = 1, updated_at = now()
WHERE id = @id AND kind = 'wallet_load' AND status = 'to_pay'
RETURNING *;

-- name: LedgerVoidLoadInvoice :one
UPDATE invoices SET status = 'voided', voided_at = now(), attempt_count = 1, updated_at = now()
WHERE id = @id AND kind = 'wallet_load' AND status = 'to_pay'
RETURNING *;

-- name: LedgerCreateInvoiceTransaction :one
INSERT INTO invoice_transactions (id, invoice_id, attempt, method, amount, currency, status, payment_method_id,
                                  idempotency_key, provider_reference, paid_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING *;

-- name: LedgerRecordChargeTransaction :one
-- Records the outcome of a load's charge, keyed by its PSP idempotency key: inserted the
-- first time, moved from pending to its final status later, never changed once final.
INSERT INTO invoice_transactions AS t (id, invoice_id, attempt, method, amount, currency, status, error_type,
                                       hard_decline, provider_code, decline_code, provider_message,
                                       provider_reference, payment_method_id, idempotency_key, paid_at)
VALUES (@id, @invoice_id, 1, @method, @amount, @currency, @status, sqlc.narg(error_type), @hard_decline,
        sqlc.narg(provider_code), sqlc.narg(decline_code), sqlc.narg(provider_message), sqlc.narg(provider_reference),
        @payment_method_id, @idempotency_key, sqlc.narg(paid_at))
ON CONFLICT (idempotency_key) DO UPDATE
SET status = EXCLUDED.status, error_type = EXCLUDED.error_type, hard_decline = EXCLUDED.hard_decline,
    provider_code = EXCLUDED.provider_code,
    decline_code = EXCLUDED.decline_code, provider_message = EXCLUDED.provider_message,
    provider_reference = COALESCE(EXCLUDED.provider_reference, t.provider_reference),
    paid_at = EXCLUDED.paid_at, updated_at = now()
WHERE t.status = 'pending'
RETURNING *;

-- name: LedgerCancelWalletInvoiceTransactions :exec
UPDATE invoice_transactions SET status = 'cancelled', updated_at = now()
WHERE invoice_id = $1 AND method = 'wallet' AND status = 'settled';

-- name: LedgerGetInvoiceTransactionByKey :one
SELECT * FROM invoice_transactions WHERE idempotency_key = $1;
