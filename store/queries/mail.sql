-- name: ClaimDueMailMessages :many
-- Takes up to @batch_size due messages, holding each until @locked_until (a crashed
-- sender's lease expires and another sender takes the message over).
UPDATE mail_messages m SET
    locked_until = @locked_until::timestamptz,
    attempts = m.attempts + 1,
    updated_at = @now::timestamptz
FROM events e
WHERE e.id = m.event_id
  AND m.event_id IN (
    SELECT c.event_id FROM mail_messages c
    WHERE c.status = 'pending' AND c.next_attempt_at <= @now::timestamptz
      AND (c.locked_until IS NULL OR c.locked_until <= @now::timestamptz)
    ORDER BY c.next_attempt_at
    LIMIT @batch_size
    FOR UPDATE OF c SKIP LOCKED)
RETURNING m.event_id, m.attempts, m.created_at,
    e.type AS event_type, e.customer_id, e.data AS event_data, e.created_at AS event_created_at;

-- name: RenewMailLease :execrows
-- Just before sending: the message is still this sender's claim (no other sender has
-- claimed it since: attempts unchanged), so hold it for another lease.
UPDATE mail_messages SET locked_until = @locked_until::timestamptz
WHERE event_id = @event_id AND attempts = @attempts AND status = 'pending';

-- name: MarkMailSent :execrows
UPDATE mail_messages SET
    status = 'sent', locked_until = NULL, message_id = @message_id::text, recipient = @recipient::text,
    language = @language::text, subject = @subject::text, location = @location::text, last_error = NULL,
    sent_at = @at::timestamptz, updated_at = @at::timestamptz
WHERE event_id = @event_id AND attempts = @attempts AND status = 'pending';

-- name: MarkMailSkipped :execrows
UPDATE mail_messages SET
    status = 'skipped', locked_until = NULL, last_error = @reason::text, updated_at = @at::timestamptz
WHERE event_id = @event_id AND attempts = @attempts AND status = 'pending';

-- name: MarkMailRetry :execrows
UPDATE mail_messages SET
    locked_until = NULL, next_attempt_at = @next_attempt_at::timestamptz, last_error = @last_error::text, updated_at = @at::timestamptz
WHERE event_id = @event_id AND attempts = @attempts AND status = 'pending';

-- name: MarkMailFailed :execrows
UPDATE mail_messages SET
    status = 'failed', locked_until = NULL, last_error = @last_error::text, updated_at = @at::timestamptz
WHERE event_id = @event_id AND attempts = @attempts AND status = 'pending';

-- name: GetMailMessage :one
SELECT * FROM mail_messages WHERE event_id = $1;

-- name: GetCustomerContact :one
SELECT id, name, email, language FROM customers WHERE id = $1;

-- name: LastSentPaymentFailedEmail :one
-- The data of the last payment-failed email sent about an invoice (one email per cause).
SELECT e.data FROM mail_messages m JOIN events e ON e.id = m.event_id
WHERE m.event_type = 'email.payment_failed' AND m.status = 'sent'
  AND e.resource_type = 'invoice' AND e.resource_id = @invoice_id::text
ORDER BY e.seq DESC
LIMIT 1;
