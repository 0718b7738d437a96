-- The shops as shops.state last told this service (runtime/shop_state.py): read into the registry at
-- start, so a shop created through the operator API is known before the topic has been read again.
CREATE TABLE shop_states (
    shop_id     text PRIMARY KEY,
    version     bigint NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Events of a suspended shop, held per consumer with the reason until the shop is resumed, then
-- applied in the order they were held (runtime/holds.py). The event id is already in
-- processed_events: a redelivered copy is a duplicate, never held twice.
CREATE TABLE held_events (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    shop_id     text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    held_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (consumer, event_id)
);
CREATE INDEX held_events_by_shop ON held_events (consumer, shop_id, id);
