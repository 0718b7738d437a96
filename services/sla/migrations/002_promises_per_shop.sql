-- A promise is one shop's: order numbers are per shop, so two shops' order "1001" are two orders.
-- Ids were "<order>:<kind>[:<repair>]", which let one shop's events settle another's promises; they
-- become "<shop>:<order>:<kind>[:<repair>]" (services/sla/domain/promises.py promise_id builds the same
-- string: change both or neither). A row two shops shared stays with the shop that opened it, the one
-- in its shop_id.
--
-- The rows are copied into a fresh table rather than updated in place. In place, a rewritten id could
-- meet an old one not yet rewritten (an order id with a colon in it) under the primary key; and with the
-- key dropped for the rewrite, the updates would be HOT, so the key and index built after them could not
-- be used by transactions older than this one (pg_index.indcheckxmin). The new ids are unique: shop ids
-- hold no colon, and the old ids were unique.
CREATE TABLE promises_per_shop (LIKE promises INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO promises_per_shop
       (id, shop_id, order_id, repair_id, kind, customer, promised_at, status, settled_at, breached_at)
SELECT shop_id || ':' || order_id || ':' || kind || coalesce(':' || nullif(repair_id, ''), ''),
       shop_id, order_id, repair_id, kind, customer, promised_at, status, settled_at, breached_at
  FROM promises;
DROP TABLE promises;
ALTER TABLE promises_per_shop RENAME TO promises;
ALTER TABLE promises ADD PRIMARY KEY (id);
-- The sweep's access path, as in 001.
CREATE INDEX promises_due ON promises (promised_at) WHERE status = 'running';
-- Every lookup by order names the shop too (lock_running_promises, lock_promises); replaces 001's
-- promises_by_order (order_id), dropped with the old table.
CREATE INDEX promises_by_shop_order ON promises (shop_id, order_id);
