-- Each ticket's SLA state, from sla.events (issue #14): every clock the SLA service runs for the
-- ticket, as its events left it (domain/sla_state.py), and the nearest running deadline on the ticket
-- itself, so the queue can be worked by deadline.
CREATE TABLE ticket_sla_clocks (
    shop_id          text NOT NULL,
    ticket_id        text NOT NULL,
    clock_id         text NOT NULL,
    metric           text NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'paused', 'stopped', 'cancelled')),
    due_at           timestamptz,
    target_seconds   integer NOT NULL,
    elapsed_seconds  double precision,
    started_at       timestamptz NOT NULL,
    changed_at       timestamptz NOT NULL,
    warned_at        timestamptz,
    breached_at      timestamptz,
    met_at           timestamptz,
    escalation_level integer NOT NULL DEFAULT 0,
    escalate_to      text,
    PRIMARY KEY (shop_id, ticket_id, clock_id)
);

-- The earliest deadline among the ticket's running clocks (null: none runs).
ALTER TABLE tickets ADD COLUMN sla_due_at timestamptz;
-- GET /v1/tickets?sort=due: a shop's unfinished tickets, nearest deadline first, those without a
-- running clock last (newest first among equals, as the default listing).
CREATE INDEX tickets_by_due ON tickets (shop_id, sla_due_at ASC NULLS LAST, created_at DESC, id DESC)
    WHERE status IN ('open', 'pending', 'on_hold');
