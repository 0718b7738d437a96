-- Privacy requests (docs/privacy.md): a shop's requests to erase or export what CareLoop holds about a
-- customer, and each service's part of the answer. A request keeps no identity of the customer in the
-- clear: `subject_digests` are the SHA-256 digests of every identity it covered (runtime/privacy.py),
-- which is how a later erasure of the same customer finds an earlier export to remove.
CREATE TABLE privacy_requests (
    id              text PRIMARY KEY,
    shop_id         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('erasure', 'export')),
    scope           text NOT NULL CHECK (scope IN ('customer', 'shop')),
    asked_by        text NOT NULL,
    source          text NOT NULL,
    subject_digests text[] NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete')),
    requested_at    timestamptz NOT NULL,
    completed_at    timestamptz
);
CREATE INDEX privacy_requests_by_shop ON privacy_requests (shop_id, requested_at DESC, id DESC);
CREATE INDEX privacy_requests_pending ON privacy_requests (requested_at) WHERE status = 'pending';

-- One row per privacy.completed event: a service's part (an export may come in several chunks).
-- `data` holds an export's rows until the export expires or the customer is erased (data_removed says
-- which).
CREATE TABLE privacy_parts (
    request_id    text NOT NULL REFERENCES privacy_requests (id),
    service       text NOT NULL,
    chunk         integer NOT NULL,
    chunks        integer NOT NULL,
    status        text NOT NULL,
    counts        jsonb NOT NULL,
    data          jsonb,
    data_removed  text CHECK (data_removed IN ('expired', 'erased')),
    completed_at  timestamptz NOT NULL,
    PRIMARY KEY (request_id, service, chunk)
);

-- A shop's own retention of message texts (absent, or null days: the service's setting).
CREATE TABLE retention_settings (
    shop_id            text PRIMARY KEY,
    message_body_days  integer CHECK (message_body_days >= 1),
    updated_at         timestamptz NOT NULL
);

-- How far each shop's retention sweep got: messages before (at, seq) are done, so a sweep reads only
-- what aged past the limit since the last one.
CREATE TABLE retention_progress (
    shop_id  text NOT NULL,
    kind     text NOT NULL,
    done_at  timestamptz NOT NULL,
    done_seq bigint NOT NULL,
    PRIMARY KEY (shop_id, kind)
);
CREATE INDEX messages_by_shop_time ON messages (shop_id, at, seq);
