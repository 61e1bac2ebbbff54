-- Invoice payment policy (issue 10):
--   * hard_decline on each invoice transaction: the one policy's (package declines) verdict,
--     stored when the failure is recorded, so the payment method's errored mark, the
--     workflow's wait for a new payment method and the API all read the same answer;
--   * void_reason on the invoice: why an operator or the merchant voided it.

ALTER TABLE invoice_transactions ADD COLUMN hard_decline boolean NOT NULL DEFAULT false;
ALTER TABLE invoice_transactions ADD CONSTRAINT invoice_transactions_hard_is_failed
    CHECK (NOT hard_decline OR status = 'failed');

-- Earlier failures, judged by the same rule (declines.IsHard: the hard types, or a hard code).
UPDATE invoice_transactions SET hard_decline = true
WHERE status = 'failed' AND (
    error_type IN ('authentication_required', 'payment_method_expired', 'payment_method_invalid',
                   'payment_method_not_supported', 'fraud')
    OR decline_code IN ('lost_card', 'stolen_card', 'pickup_card', 'restricted_card', 'do_not_try_again',
                        'pin_try_exceeded', 'merchant_blacklist', 'debit_not_authorized',
                        'revocation_of_authorization', 'revocation_of_all_authorizations',
                        'stop_payment_order', 'testmode_decline')
    OR provider_code IN ('lost_card', 'stolen_card', 'pickup_card', 'restricted_card', 'do_not_try_again',
                         'pin_try_exceeded', 'merchant_blacklist', 'debit_not_authorized',
                         'revocation_of_authorization', 'revocation_of_all_authorizations',
                         'stop_payment_order', 'testmode_decline'));

ALTER TABLE invoices ADD COLUMN void_reason text CHECK (length(void_reason) <= 500);

---- create above / drop below ----

ALTER TABLE invoices DROP COLUMN void_reason;
ALTER TABLE invoice_transactions DROP CONSTRAINT invoice_transactions_hard_is_failed;
ALTER TABLE invoice_transactions DROP COLUMN hard_decline;
