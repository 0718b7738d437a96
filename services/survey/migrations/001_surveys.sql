-- One row per survey: scheduled with a due time, then sent (with a hashed token) or suppressed.
CREATE TABLE invitations (
    survey_id       text PRIMARY KEY,
    shop_id         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('nps', 'csat', 'ces')),
    origin          text NOT NULL,          -- what the survey is about: order:<id>, ticket:<id>, return:<id>, repair:<id>
    customer        jsonb NOT NULL,
    customer_id     text,
    customer_email  text,                   -- lower-cased, for matching tickets and throttling
    order_id        text,
    ticket_id       text,
    channel         text,                   -- of the originating ticket, for report breakdowns
    category        text,
    locale          text NOT NULL,
    due_at          timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'scheduled'
                    CHECK (status IN ('scheduled', 'sent', 'suppressed', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    token_sha256    text UNIQUE,
    sent_at         timestamptz,
    expires_at      timestamptz,
    answered_at     timestamptz,
    created_at      timestamptz NOT NULL,
    UNIQUE (shop_id, kind, origin)
);
CREATE INDEX invitations_due ON invitations (due_at) WHERE status = 'scheduled';
CREATE INDEX invitations_customer_id ON invitations (shop_id, kind, customer_id, sent_at) WHERE status = 'sent';
CREATE INDEX invitations_customer_email ON invitations (shop_id, kind, customer_email, sent_at)
    WHERE status = 'sent';
CREATE INDEX invitations_sent ON invitations (shop_id, kind, sent_at) WHERE status = 'sent';

-- Every send/suppress decision with its reason (the audit trail of throttling).
CREATE TABLE decisions (
    id          bigserial PRIMARY KEY,
    survey_id   text NOT NULL REFERENCES invitations (survey_id),
    shop_id     text NOT NULL,
    kind        text NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('sent', 'suppressed')),
    reason      text NOT NULL,
    decided_at  timestamptz NOT NULL
);
CREATE INDEX decisions_shop ON decisions (shop_id, decided_at);

-- One answer per survey (the primary key is the single-use guarantee's last line of defence).
CREATE TABLE answers (
    survey_id   text PRIMARY KEY REFERENCES invitations (survey_id),
    shop_id     text NOT NULL,
    kind        text NOT NULL,
    score       integer NOT NULL,
    speed       integer,
    accuracy    integer,
    comment     text,                       -- plain text as typed; never rendered as HTML
    channel     text,
    category    text,
    via         text NOT NULL,              -- page | api
    answered_at timestamptz NOT NULL
);
CREATE INDEX answers_shop ON answers (shop_id, kind, answered_at);

-- Orders cancelled: never surveyed, whatever arrives later.
CREATE TABLE cancelled_orders (
    shop_id      text NOT NULL,
    order_id     text NOT NULL,
    cancelled_at timestamptz NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);

-- The ticket state survey needs: is a customer's ticket open, and which channel/category an order's ticket had.
CREATE TABLE tickets (
    shop_id         text NOT NULL,
    ticket_id       text NOT NULL,
    customer_id     text,
    customer_email  text,
    order_id        text,
    channel         text NOT NULL,
    category        text NOT NULL,
    is_open         boolean NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (shop_id, ticket_id)
);
CREATE INDEX tickets_open_by_id ON tickets (shop_id, customer_id) WHERE is_open;
CREATE INDEX tickets_open_by_email ON tickets (shop_id, customer_email) WHERE is_open;
CREATE INDEX tickets_by_order ON tickets (shop_id, order_id);
