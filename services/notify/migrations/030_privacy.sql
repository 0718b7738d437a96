-- Retention of what notify keeps for replay (docs/privacy.md): a shop's own limit on how long the
-- bodies of finished deliveries and reply e-mails are kept (absent, or null days: the service's
-- setting). Purged, a delivery keeps its row and a stub body naming only the event.
CREATE TABLE retention_settings (
    shop_id             text PRIMARY KEY,
    delivery_body_days  integer CHECK (delivery_body_days >= 1),
    updated_at          timestamptz NOT NULL
);

-- How far each shop's retention sweep got (finished_at, id): a sweep reads only what aged past the
-- limit since the last one.
CREATE TABLE retention_progress (
    shop_id   text NOT NULL,
    kind      text NOT NULL,
    done_at   timestamptz NOT NULL,
    done_id   text NOT NULL,
    PRIMARY KEY (shop_id, kind)
);
