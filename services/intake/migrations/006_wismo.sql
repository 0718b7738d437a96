-- Automatic answers to "where is my order?" and the housekeeping of tickets (issue #14; docs/intake.md).

-- What an answer needs of the order (domain/orders.py): each fact with the time of the step that told
-- it, so steps arriving in any order end in the same state. A fact without its own time was told with
-- the status (rows written before this migration).
ALTER TABLE orders ADD COLUMN customer_email_at timestamptz;
ALTER TABLE orders ADD COLUMN promise_at        timestamptz;
ALTER TABLE orders ADD COLUMN carrier           text;
ALTER TABLE orders ADD COLUMN tracking_number   text;
ALTER TABLE orders ADD COLUMN tracking_url      text;
ALTER TABLE orders ADD COLUMN shipped_at        timestamptz;
ALTER TABLE orders ADD COLUMN delay_reason      text;
ALTER TABLE orders ADD COLUMN delayed_at        timestamptz;
ALTER TABLE orders ADD COLUMN total             numeric;
ALTER TABLE orders ADD COLUMN currency          text;
ALTER TABLE orders ADD COLUMN lines             jsonb;
ALTER TABLE orders ADD COLUMN contents_at       timestamptz;

-- continues_ticket_id: the closed ticket a new one continues (a message on a closed ticket).
-- pending_since / reminded_at: when the ticket last went pending, and when the customer was reminded.
-- deflect_at: an automatic answer waits for the customer until then; solved as deflected if they do
-- not write back (cleared by any status change).
ALTER TABLE tickets ADD COLUMN continues_ticket_id text;
ALTER TABLE tickets ADD COLUMN pending_since       timestamptz;
ALTER TABLE tickets ADD COLUMN reminded_at         timestamptz;
ALTER TABLE tickets ADD COLUMN deflect_at          timestamptz;
UPDATE tickets SET pending_since = updated_at WHERE status = 'pending';

-- The sweeps' lookups (sweeps.py): each reads only the tickets it may act on, oldest first.
CREATE INDEX tickets_deflect_due ON tickets (deflect_at) WHERE deflect_at IS NOT NULL;
CREATE INDEX tickets_pending_by_shop ON tickets (shop_id, pending_since) WHERE status = 'pending';
CREATE INDEX tickets_solved_by_shop ON tickets (shop_id, solved_at) WHERE status = 'solved';

-- Every new ticket asking where a known order is (order status, delivery delay): the order, whether
-- the shop had told the customer of a delay before they wrote, and the automatic answer if one went
-- out. outcome: null while it waits (or an agent took the ticket over), deflected, came_back.
CREATE TABLE wismo_contacts (
    shop_id           text NOT NULL,
    ticket_id         text NOT NULL,
    order_id          text NOT NULL,
    category          text NOT NULL,
    order_status      text NOT NULL,
    after_notice      boolean NOT NULL,
    answer_message_id text,
    outcome           text CHECK (outcome IN ('deflected', 'came_back')),
    at                timestamptz NOT NULL,
    settled_at        timestamptz,
    PRIMARY KEY (shop_id, ticket_id)
);
CREATE INDEX wismo_contacts_by_time ON wismo_contacts (shop_id, at);

-- A shop's settings of automatic answers and housekeeping (domain/settings.py; absent: the defaults).
CREATE TABLE shop_settings (
    shop_id    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('automatic_answers', 'housekeeping')),
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (shop_id, kind)
);
