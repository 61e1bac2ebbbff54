-- name: CreateCustomer :one
INSERT INTO customers (id, external_id, name, email, currency, language, provider_customer_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetCustomer :one
SELECT * FROM customers WHERE id = $1;

-- name: GetCustomerByExternalID :one
SELECT * FROM customers WHERE external_id = $1;

-- name: LockCustomer :one
SELECT * FROM customers WHERE id = $1 FOR UPDATE;

-- name: ListCustomers :many
SELECT * FROM customers
WHERE (sqlc.narg(before_seq)::bigint IS NULL OR seq < sqlc.narg(before_seq)::bigint)
  AND (sqlc.narg(email)::text IS NULL OR email = sqlc.narg(email)::text)
  AND (sqlc.narg(external_id)::text IS NULL OR external_id = sqlc.narg(external_id)::text)
ORDER BY seq DESC
LIMIT $1;

-- name: CreatePaymentMethod :one
INSERT INTO payment_methods (id, customer_id, external_id, type, provider_id, exp_month, exp_year, last4, is_default)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: ClearDefaultPaymentMethod :exec
UPDATE payment_methods SET is_default = false WHERE customer_id = $1 AND is_default;

-- name: CountActivePaymentMethods :one
SELECT count(*) FROM payment_methods WHERE customer_id = $1 AND status = 'active';

-- name: GetPaymentMethod :one
SELECT * FROM payment_methods WHERE id = $1;

-- name: GetDefaultPaymentMethod :one
SELECT * FROM payment_methods WHERE customer_id = $1 AND is_default;

-- name: ListPaymentMethods :many
SELECT * FROM payment_methods
WHERE customer_id = @customer_id
  AND (sqlc.narg(external_id)::text IS NULL OR external_id = sqlc.narg(external_id)::text)
ORDER BY seq DESC;

-- name: GetPaymentMethodByExternalID :one
SELECT * FROM payment_methods WHERE external_id = $1;

-- name: CustomerWalletID :one
SELECT id FROM wallets WHERE customer_id = $1;

-- name: UpdateCustomer :one
-- Only the fields given change (NULL keeps the current value).
UPDATE customers
SET name     = COALESCE(sqlc.narg(name)::text, name),
    email    = COALESCE(sqlc.narg(email)::text, email),
    language = COALESCE(sqlc.narg(language)::text, language)
WHERE id = @id
RETURNING *;

-- name: LockPaymentMethod :one
SELECT * FROM payment_methods WHERE id = $1 FOR UPDATE;

-- name: SetDefaultPaymentMethod :one
UPDATE payment_methods SET is_default = true WHERE id = $1 AND status = 'active' RETURNING *;

-- name: DetachPaymentMethod :one
-- A detached method is never charged again (ChargeablePaymentMethod takes active ones only)
-- and is no longer the default.
UPDATE payment_methods SET status = 'detached', is_default = false WHERE id = $1 RETURNING *;

-- name: CustomerWalletIDs :many
SELECT customer_id, id FROM wallets WHERE customer_id = ANY(@customer_ids::text[]);
