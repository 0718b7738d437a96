-- Replies to customers (issue #14): how each public reply fared on its channel, whether it was an
-- automatic answer, and a ticket flagged because a reply did not reach the customer.
ALTER TABLE messages ADD COLUMN automatic boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN delivery_status text
    CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'failed'));
ALTER TABLE messages ADD COLUMN delivery_reason text;
ALTER TABLE messages ADD COLUMN delivery_gateway text;
ALTER TABLE messages ADD COLUMN delivery_updated_at timestamptz;
ALTER TABLE tickets ADD COLUMN reply_failed_at timestamptz;

-- Inbound e-mails that were automatic (auto-replies, bounces, our own replies come back): kept to
-- show what was left out and why, never a ticket. One row per Message-ID, however often delivered.
CREATE TABLE ignored_emails (
    id          bigserial PRIMARY KEY,
    shop_id     text NOT NULL,
    message_id  text,
    reason      text NOT NULL,
    sender      text,
    subject     text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX ignored_emails_once ON ignored_emails (shop_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX ignored_emails_by_shop ON ignored_emails (shop_id, received_at DESC);
