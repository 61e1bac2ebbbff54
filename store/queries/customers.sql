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
SELECT * FROM payment_methods WHERE customer_id = $1 ORDER BY seq DESC;
