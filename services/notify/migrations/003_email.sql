-- A shop's SMTP relay: replies to customers who wrote by e-mail go out through it (issue #14). The
-- password is kept in full because the service must log in with it; it never leaves the service.
CREATE TABLE email_relays (
    shop_id      text PRIMARY KEY,
    host         text NOT NULL,
    port         integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    starttls     boolean NOT NULL,
    username     text,
    password     text,
    from_address text NOT NULL,
    from_name    text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- The durable queue of e-mail replies: one row per ticket.replied event of a shop with a relay,
-- written in the consumer's transaction. next_attempt_at is domain time; lease_until is wall time
-- (a worker that died mid-send leaves its row to be taken over), as for webhook deliveries.
CREATE TABLE email_sends (
    id              text PRIMARY KEY,
    shop_id         text NOT NULL,
    event_id        text NOT NULL,
    ticket_id       text NOT NULL,
    message_id      text NOT NULL,
    to_address      text NOT NULL,
    to_name         text,
    subject         text NOT NULL,
    body            text NOT NULL,
    header_message_id text NOT NULL,
    in_reply_to     text,
    references_ids  text[] NOT NULL DEFAULT '{}',
    automatic       boolean NOT NULL DEFAULT false,
    written_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claim_token     text,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    UNIQUE (shop_id, event_id)
);
CREATE INDEX email_sends_due ON email_sends (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX email_sends_finished ON email_sends (finished_at) WHERE status IN ('sent', 'dead');
CREATE INDEX email_sends_by_shop ON email_sends (shop_id, created_at DESC);
