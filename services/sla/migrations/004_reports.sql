-- The per-shop report (GET /v1/reports/sla) reads what was decided in a period: a clock's outcome at
-- its breach instant or, met, at its stop; a promise kept at its settlement or broken at its breach.
-- These indexes are its access paths, one shop's decided rows in instant order; the expressions are
-- the ones services/sla/repository/reports.py filters on (change both or neither).
CREATE INDEX clocks_decided ON clocks (shop_id, (coalesce(breached_at, stopped_at)))
    WHERE outcome IS NOT NULL;
CREATE INDEX promises_decided ON promises (shop_id, (coalesce(breached_at, settled_at)))
    WHERE status IN ('kept', 'breached');
