-- ledger.DebitTx in one round trip: the same steps it ran as eight statements (lock the
-- invoice, read the attempt's recorded outcome, lock the customer's wallet, decide, take
-- min(balance, amount due), append the debit, record the wallet's invoice transaction,
-- raise amount_paid, emit wallet.debited, record the attempt), in one PL/pgSQL function.
-- Each statement inside still takes a fresh snapshot after its lock (READ COMMITTED), so
-- the guarantees are the ones the Go version had: the invoice row lock serialises calls
-- for one invoice, the wallet row lock serialises debits of one wallet, the balance never
-- goes below zero (the UPDATE's guard), and the primary key of wallet_debit_attempts and the
-- ledger's unique index refuse a second debit for an invoice and attempt whatever happens.
--
-- What Go owns is passed in, so each rule keeps one home: the new rows' ids and the clock
-- (p_paid_at), the invoice transaction's idempotency key (ledger.WalletIdempotencyKey),
-- and the currencies' decimals (p_exponents, from package money) that format the event's
-- amounts as ledger.TransactionView does. The skip reasons are ledger.Skip* (the ledger
-- tests compare them). found = false: no such invoice.
CREATE FUNCTION ledger_debit_for_invoice(
    p_invoice_id text, p_attempt integer, p_idempotency_key text,
    p_wallet_tx_id text, p_invoice_tx_id text, p_event_id text,
    p_paid_at timestamptz, p_exponents jsonb)
RETURNS TABLE (found boolean, currency text, amount numeric, wallet_id text, wallet_transaction_id text,
               invoice_transaction_id text, skipped text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    inv  invoices%ROWTYPE;
    prev wallet_debit_attempts%ROWTYPE;
    w    wallets%ROWTYPE;
    tx   wallet_transactions%ROWTYPE;
    due  numeric;
    take numeric := 0;
    why  text;
    wid  text;
    exp  integer;
    fmt  text;
BEGIN
    SELECT * INTO inv FROM invoices i WHERE i.id = p_invoice_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::text, 0::numeric, NULL::text, NULL::text, NULL::text, NULL::text, false;
        RETURN;
    END IF;
    SELECT * INTO prev FROM wallet_debit_attempts a WHERE a.invoice_id = p_invoice_id AND a.attempt = p_attempt;
    IF FOUND THEN
        RETURN QUERY SELECT true, inv.currency, prev.amount, prev.wallet_id, prev.wallet_transaction_id,
                            prev.invoice_transaction_id, prev.skipped, true;
        RETURN;
    END IF;

    due := inv.total - inv.amount_paid;
    IF inv.kind <> 'standard' OR inv.status NOT IN ('to_pay', 'error') THEN
        why := 'invoice_not_collectable';
    ELSIF due <= 0 THEN
        why := 'nothing_due';
    ELSE
        SELECT * INTO w FROM wallets ww WHERE ww.customer_id = inv.customer_id FOR UPDATE;
        IF NOT FOUND THEN
            why := 'no_wallet';
        ELSE
            wid := w.id;
            IF w.currency <> inv.currency THEN
                why := 'currency_mismatch';
            ELSIF NOT w.auto_debit THEN
                why := 'auto_debit_off';
            ELSIF w.balance <= 0 THEN
                why := 'empty_balance';
            END IF;
        END IF;
    END IF;

    IF why IS NULL THEN
        take := least(w.balance, due);
        UPDATE wallets ww SET balance = ww.balance - take, updated_at = now()
        WHERE ww.id = w.id AND ww.balance >= take
        RETURNING ww.balance INTO w.balance;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger_debit_for_invoice: wallet % does not cover % (its row is locked)', w.id, take;
        END IF;
        INSERT INTO wallet_transactions (id, wallet_id, type, amount, currency, source, invoice_id, attempt, balance_after)
        VALUES (p_wallet_tx_id, w.id, 'debit', take, w.currency, 'invoice', inv.id, p_attempt, w.balance)
        RETURNING * INTO tx;
        INSERT INTO invoice_transactions (id, invoice_id, attempt, method, amount, currency, status,
                                          idempotency_key, provider_reference, paid_at)
        VALUES (p_invoice_tx_id, inv.id, p_attempt, 'wallet', take, inv.currency, 'settled',
                p_idempotency_key, tx.id, p_paid_at);
        UPDATE invoices i SET amount_paid = i.amount_paid + take, updated_at = now() WHERE i.id = inv.id;
        -- The event's data is ledger.TransactionView(tx): amounts with exactly the
        -- currency's decimals, created_at in UTC as Go's RFC 3339 (trailing zeros trimmed).
        exp := (p_exponents ->> tx.currency)::integer;
        fmt := to_char(tx.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US');
        fmt := regexp_replace(fmt, '\.?0+$', '') || 'Z'; -- ".120000" → ".12", ".000000" → ""
        INSERT INTO events (id, type, resource_type, resource_id, customer_id, data)
        VALUES (p_event_id, 'wallet.debited', 'wallet_transaction', tx.id, inv.customer_id, jsonb_build_object(
            'id', tx.id, 'object', 'wallet_transaction', 'wallet_id', tx.wallet_id, 'type', tx.type,
            'amount', CASE WHEN exp IS NULL THEN trim_scale(tx.amount)::text ELSE round(tx.amount, exp)::text END,
            'currency', tx.currency, 'source', tx.source, 'invoice_id', tx.invoice_id, 'attempt', tx.attempt,
            'load_id', tx.load_id, 'original_transaction_id', tx.original_transaction_id, 'reverted_by', tx.reverted_by,
            'balance_after', CASE WHEN exp IS NULL THEN trim_scale(tx.balance_after)::text ELSE round(tx.balance_after, exp)::text END,
            'created_at', fmt));
    END IF;

    INSERT INTO wallet_debit_attempts (invoice_id, attempt, wallet_id, amount, wallet_transaction_id, invoice_transaction_id, skipped)
    VALUES (inv.id, p_attempt, wid, take, CASE WHEN why IS NULL THEN tx.id END,
            CASE WHEN why IS NULL THEN p_invoice_tx_id END, why);
    RETURN QUERY SELECT true, inv.currency, take, wid, CASE WHEN why IS NULL THEN tx.id END,
                        CASE WHEN why IS NULL THEN p_invoice_tx_id END, why, false;
END
$$;

---- create above / drop below ----

DROP FUNCTION ledger_debit_for_invoice(text, integer, text, text, text, text, timestamptz, jsonb);
