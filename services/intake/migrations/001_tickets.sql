-- Tickets, their messages and the gateway threads they continue.
CREATE TABLE tickets (
    id                text PRIMARY KEY,
    shop_id           text NOT NULL,
    status            text NOT NULL,
    channel           text NOT NULL,
    category          text NOT NULL,
    priority          text NOT NULL,
    subject           text NOT NULL DEFAULT '',
    source            text NOT NULL DEFAULT 'contact',
    source_ref        text,
    customer_key      text NOT NULL,
    customer_id       text,
    customer_email    text,
    customer_phone    text,
    customer_handle   text,
    customer_name     text,
    customer_locale   text NOT NULL DEFAULT 'en',
    order_id          text,
    is_repeat         boolean NOT NULL DEFAULT false,
    repeat_of         text,
    breached          boolean NOT NULL DEFAULT false,
    breached_metrics  text[] NOT NULL DEFAULT '{}',
    agent_replies     integer NOT NULL DEFAULT 0,
    reopen_count      integer NOT NULL DEFAULT 0,
    first_response_at timestamptz,
    solved_at         timestamptz,
    closed_at         timestamptz,
    fcr               boolean,
    merged_into       text REFERENCES tickets (id),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    last_activity_at  timestamptz NOT NULL
);
CREATE INDEX tickets_by_customer ON tickets (shop_id, customer_key, created_at DESC);
CREATE INDEX tickets_by_order ON tickets (shop_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX tickets_by_status ON tickets (shop_id, status);
CREATE INDEX tickets_listing ON tickets (shop_id, created_at DESC, id DESC);
-- One follow-up ticket per survey answer / broken promise, however often the event is re-sent.
CREATE UNIQUE INDEX tickets_one_per_source ON tickets (shop_id, source, source_ref)
    WHERE source_ref IS NOT NULL;

CREATE TABLE ticket_threads (
    shop_id    text NOT NULL,
    thread_key text NOT NULL,
    ticket_id  text NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (shop_id, thread_key, ticket_id)
);
CREATE INDEX ticket_threads_by_ticket ON ticket_threads (ticket_id);

CREATE TABLE messages (
    seq                bigserial PRIMARY KEY,
    id                 text NOT NULL UNIQUE,
    ticket_id          text NOT NULL REFERENCES tickets (id),
    original_ticket_id text NOT NULL,
    shop_id            text NOT NULL,
    author             text NOT NULL,
    internal           boolean NOT NULL DEFAULT false,
    channel            text,
    channel_message_id text,
    author_name        text,
    subject            text NOT NULL DEFAULT '',
    body               text NOT NULL,
    attachments        jsonb NOT NULL DEFAULT '[]'::jsonb,
    at                 timestamptz NOT NULL
);
-- A gateway delivering the same message twice must not make it appear twice.
CREATE UNIQUE INDEX messages_once_per_channel_id ON messages (shop_id, channel, channel_message_id)
    WHERE channel_message_id IS NOT NULL;
CREATE INDEX messages_by_ticket ON messages (ticket_id, seq);

-- The latest known state of each order, from orders.events.
CREATE TABLE orders (
    shop_id                text NOT NULL,
    order_id               text NOT NULL,
    status                 text NOT NULL,
    status_at              timestamptz NOT NULL,
    customer_id            text NOT NULL,
    customer_email         text,
    customer_locale        text NOT NULL DEFAULT 'en',
    promised_delivery_date date,
    PRIMARY KEY (shop_id, order_id)
);
CREATE INDEX orders_by_email ON orders (shop_id, lower(customer_email));

-- A shop's own category/priority rule table (absent: the default table).
CREATE TABLE shop_rules (
    shop_id    text PRIMARY KEY,
    rules      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
