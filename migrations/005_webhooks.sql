-- Events out: webhook endpoints and their deliveries, and customer email. A trigger on the
-- outbox (events) queues each new row for its consumer in the same transaction as the
-- state change, so nothing is lost and nothing is scanned twice:
--   email.* events     -> mail_messages (one row per event: the idempotency key of the email)
--   every other event  -> webhook_fanout_queue (fanned out to matching endpoints by the worker)
-- Purging old events purges their queue, delivery and mail rows (ON DELETE CASCADE).

CREATE TABLE webhook_endpoints (
    id                         text PRIMARY KEY,
    seq                        bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    url                        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    description                text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- subscribed event types; empty means every public event type
    events                     text[] NOT NULL DEFAULT '{}',
    enabled                    boolean NOT NULL DEFAULT true,
    -- whsec_<base64>; the previous secret keeps signing until previous_secret_expires_at
    secret                     text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- set when a delivery exhausted its retries, cleared by the next successful delivery
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_previous_secret CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);

-- Public events not yet fanned out to the endpoints (filled by the trigger below).
CREATE TABLE webhook_fanout_queue (
    event_id text PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    seq      bigint NOT NULL
);
CREATE INDEX webhook_fanout_queue_seq ON webhook_fanout_queue (seq);

-- One row per (endpoint, event): the durable retry state of that delivery.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    seq              bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event_seq        bigint NOT NULL,
    event_type       text NOT NULL,
    resource_id      text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- when the next attempt is due (pending only)
    next_attempt_at  timestamptz,
    -- a sender holds the delivery until then (lease; a crashed sender's lease expires)
    locked_until     timestamptz,
    -- automatic retries stop after this instant: the delivery is then failed
    retry_until      timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    failed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, event_id),
    CONSTRAINT webhook_deliveries_pending_due CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, resource_id, event_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);

-- One row per email.* event, created with the event: the event id is the email's
-- idempotency key (and its Message-ID), so a customer gets one message per event.
CREATE TABLE mail_messages (
    event_id        text PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    message_id      text,
    recipient       text,
    language        text,
    subject         text,
    -- where the message went: smtp://host:port, or the .eml file of the dev default
    location        text,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_messages_due ON mail_messages (next_attempt_at) WHERE status = 'pending';

CREATE FUNCTION events_route_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type LIKE 'email.%' THEN
        INSERT INTO mail_messages (event_id, event_type) VALUES (NEW.id, NEW.type);
    ELSE
        INSERT INTO webhook_fanout_queue (event_id, seq) VALUES (NEW.id, NEW.seq);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_route_out AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_route_out();

-- Events written before this migration are not queued: no endpoint existed to receive
-- them, and an email about an old event would arrive late and out of context.

---- create above / drop below ----

DROP TRIGGER events_route_out ON events;
DROP FUNCTION events_route_out();
DROP TABLE mail_messages;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_fanout_queue;
DROP TABLE webhook_endpoints;
