-- Per-shop documents; a shop without a row gets the shipped defaults.
CREATE TABLE sla_policies (
    shop_id    text PRIMARY KEY,
    document   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sla_calendars (
    shop_id    text PRIMARY KEY,
    document   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What the clocks need to know about a ticket between its events.
CREATE TABLE tickets (
    ticket_id     text PRIMARY KEY,
    shop_id       text NOT NULL,
    status        text NOT NULL,
    agent_replied boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE clocks (
    id             text PRIMARY KEY,
    shop_id        text NOT NULL,
    ticket_id      text NOT NULL,
    metric         text NOT NULL,
    policy_id      text NOT NULL,
    channel        text NOT NULL,
    category       text NOT NULL,
    priority       text NOT NULL,
    target_seconds double precision NOT NULL,
    business_hours boolean NOT NULL,
    stages         jsonb NOT NULL,
    status         text NOT NULL CHECK (status IN ('running', 'paused', 'stopped', 'cancelled')),
    outcome        text CHECK (outcome IN ('met', 'breached')),
    started_at     timestamptz NOT NULL,
    running_since  timestamptz,
    consumed       interval NOT NULL DEFAULT '0',
    stages_done    integer NOT NULL DEFAULT 0,
    stage_at       timestamptz[] NOT NULL DEFAULT '{}',
    due_at         timestamptz,
    breached_at    timestamptz,
    stopped_at     timestamptz,
    elapsed        interval,
    CHECK (due_at IS NULL OR status = 'running')
);
-- The sweep's only access path: running clocks by their next due instant.
CREATE INDEX clocks_due ON clocks (due_at) WHERE status = 'running';
CREATE INDEX clocks_by_ticket ON clocks (ticket_id);

CREATE TABLE promises (
    id          text PRIMARY KEY,
    shop_id     text NOT NULL,
    order_id    text NOT NULL,
    repair_id   text,
    kind        text NOT NULL,
    customer    jsonb NOT NULL,
    promised_at timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'kept', 'breached', 'cancelled')),
    settled_at  timestamptz,
    breached_at timestamptz
);
CREATE INDEX promises_due ON promises (promised_at) WHERE status = 'running';
CREATE INDEX promises_by_order ON promises (order_id);
