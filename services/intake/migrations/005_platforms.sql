-- Shop platforms' order webhooks (Shopify, WooCommerce; docs/platforms.md).

-- The secrets the platforms sign with, per shop and platform: several while one is rotated. Kept in
-- full because every delivery's HMAC is computed with them; the API never shows them again.
CREATE TABLE platform_secrets (
    id          bigserial PRIMARY KEY,
    shop_id     text NOT NULL,
    platform    text NOT NULL CHECK (platform IN ('shopify', 'woocommerce')),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (shop_id, platform, secret)
);

-- Every delivery received, by the platform's own delivery id: a retry or a duplicate is known.
CREATE TABLE platform_deliveries (
    shop_id       text NOT NULL,
    platform      text NOT NULL,
    delivery_key  text NOT NULL,
    topic         text NOT NULL,
    outcome       text NOT NULL,
    received_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, platform, delivery_key)
);
-- The sweep forgets deliveries older than any platform retries.
CREATE INDEX platform_deliveries_by_age ON platform_deliveries (received_at);

-- What each order's deliveries told CareLoop (domain/platforms/deliveries.py, OrderState): the newest
-- customer details, the newest delivery applied (a stale one never moves the order backwards) and
-- every step told (told once, announced once).
CREATE TABLE platform_orders (
    shop_id            text NOT NULL,
    platform           text NOT NULL,
    platform_order_id  text NOT NULL,
    order_id           text,
    customer           jsonb,
    facts_at           timestamptz,
    facts_rank         integer,
    facts_key          text,
    position_at        timestamptz,
    position_rank      integer,
    position_key       text,
    status             text,
    told               text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (shop_id, platform, platform_order_id)
);

-- Deliveries kept with their reason and raw body: dead letters (waiting_for NULL: cannot become
-- events), and deliveries about an order not known yet (waiting_for: the platform's order id), applied
-- and removed once it is.
CREATE TABLE platform_dead_letters (
    id             bigserial PRIMARY KEY,
    shop_id        text NOT NULL,
    platform       text NOT NULL,
    delivery_key   text NOT NULL,
    topic          text NOT NULL,
    reason         text NOT NULL,
    payload        bytea NOT NULL,
    signalled_at   timestamptz,
    waiting_for    text,
    received_at    timestamptz NOT NULL,
    UNIQUE (shop_id, platform, delivery_key)
);
CREATE INDEX platform_dead_letters_waiting ON platform_dead_letters (shop_id, platform, waiting_for)
    WHERE waiting_for IS NOT NULL;
CREATE INDEX platform_dead_letters_recent ON platform_dead_letters (shop_id, received_at DESC, id DESC);
