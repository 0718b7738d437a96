-- Webhook endpoints of the shops. The signing secret is kept in full because the service must sign
-- with it; it leaves the service only in the create/rotate responses.
CREATE TABLE endpoints (
    id                          text PRIMARY KEY,
    shop_id                     text NOT NULL,
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    event_types                 text[] NOT NULL,
    rate_limit_per_second       double precision,
    enabled                     boolean NOT NULL DEFAULT true,
    disabled_reason             text,
    disabled_at                 timestamptz,
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    failing_since               timestamptz,
    breaker_failures            integer NOT NULL DEFAULT 0,
    breaker_open_until          timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL
);
CREATE INDEX endpoints_by_shop ON endpoints (shop_id, created_at);

-- The durable delivery queue: one row per (endpoint, event), written in the consumer's transaction.
-- seq orders the steps of one order for one endpoint; next_attempt_at is domain time;
-- lease_until is wall time (it protects against a worker that died mid-attempt).
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    seq              bigserial NOT NULL UNIQUE,
    shop_id          text NOT NULL,
    endpoint_id      text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    webhook_id       text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    event_time       timestamptz NOT NULL,
    order_key        text NOT NULL,
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivering', 'succeeded', 'dead')),
    round_attempts   integer NOT NULL DEFAULT 0,
    total_attempts   integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    claim_token      text,
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_unfinished ON deliveries (endpoint_id, order_key, seq)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, created_at DESC);

-- Every attempt, with what the receiver answered (truncated) or what went wrong.
CREATE TABLE attempts (
    id             bigserial PRIMARY KEY,
    delivery_id    text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempted_at   timestamptz NOT NULL,
    outcome        text NOT NULL,
    status_code    integer,
    latency_ms     double precision NOT NULL,
    response_body  text,
    error          text
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, id);

-- A shop's own customer-message templates, per event type and language.
CREATE TABLE template_overrides (
    shop_id     text NOT NULL,
    event_type  text NOT NULL,
    language    text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (shop_id, event_type, language)
);
