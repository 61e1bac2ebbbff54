-- name: LedgerDebitForInvoice :one
-- ledger.DebitTx in one round trip (migrations/010_ledger_debit_function.sql); absent ids
-- and the skip reason are ''.
SELECT d.found::boolean AS found, coalesce(d.currency, '')::text AS currency, d.amount::numeric AS amount,
       coalesce(d.wallet_id, '')::text AS wallet_id, coalesce(d.wallet_transaction_id, '')::text AS wallet_transaction_id,
       coalesce(d.invoice_transaction_id, '')::text AS invoice_transaction_id, coalesce(d.skipped, '')::text AS skipped,
       d.replayed::boolean AS replayed
FROM ledger_debit_for_invoice(@invoice_id::text, @attempt::integer, @idempotency_key::text,
    @wallet_tx_id::text, @invoice_tx_id::text, @event_id::text, @paid_at::timestamptz, @exponents::jsonb)
    AS d (found, currency, amount, wallet_id, wallet_transaction_id, invoice_transaction_id, skipped, replayed);
