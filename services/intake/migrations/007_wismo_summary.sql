-- GET /v1/automatic-answers/summary (issue #14): a shop's delay notices of a period, and whether their
-- customers still asked about those orders afterwards.
CREATE INDEX orders_delayed ON orders (shop_id, delayed_at) WHERE delayed_at IS NOT NULL;
CREATE INDEX wismo_contacts_by_order ON wismo_contacts (shop_id, order_id);
