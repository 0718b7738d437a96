-- People and routing (issue #15; docs/intake.md "Agents and teams"): a shop's agents with their own
-- API token (its SHA-256 only), their teams and how each team assigns, who a ticket is assigned to,
-- its tags, who wrote each agent message, and the shop's canned replies (macros).

CREATE TABLE teams (
    shop_id       text NOT NULL,
    id            text NOT NULL,
    name          text NOT NULL,
    policy        text NOT NULL DEFAULT 'round_robin' CHECK (policy IN ('round_robin', 'least_open')),
    auto_assign   boolean NOT NULL DEFAULT false,
    is_default    boolean NOT NULL DEFAULT false,
    -- round robin: the agent who got this team's last ticket (the next one goes to the one after)
    last_agent_id text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (shop_id, id)
);
CREATE UNIQUE INDEX teams_by_name ON teams (shop_id, lower(name));
-- a ticket no rule gives a team joins the shop's default team (at most one)
CREATE UNIQUE INDEX teams_one_default ON teams (shop_id) WHERE is_default;

CREATE TABLE agents (
    shop_id         text NOT NULL,
    id              text NOT NULL,
    name            text NOT NULL,
    email           text,
    role            text NOT NULL CHECK (role IN ('agent', 'lead', 'admin')),
    available       boolean NOT NULL DEFAULT true,
    capacity        integer NOT NULL CHECK (capacity >= 0),
    active          boolean NOT NULL DEFAULT true,
    token_sha256    text NOT NULL,
    token_issued_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    deactivated_at  timestamptz,
    PRIMARY KEY (shop_id, id)
);
-- an agent's token is looked up by its hash alone (it names the shop)
CREATE UNIQUE INDEX agents_by_token ON agents (token_sha256);
CREATE UNIQUE INDEX agents_by_email ON agents (shop_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE team_members (
    shop_id  text NOT NULL,
    team_id  text NOT NULL,
    agent_id text NOT NULL,
    PRIMARY KEY (shop_id, team_id, agent_id),
    FOREIGN KEY (shop_id, team_id) REFERENCES teams (shop_id, id) ON DELETE CASCADE,
    FOREIGN KEY (shop_id, agent_id) REFERENCES agents (shop_id, id)
);
CREATE INDEX team_members_by_agent ON team_members (shop_id, agent_id);

-- Who works the ticket: its team, its assignee (null: the unassigned queue), since when; its tags;
-- and who wrote its first response (the agent report's first response times).
ALTER TABLE tickets ADD COLUMN team_id                 text;
ALTER TABLE tickets ADD COLUMN assignee_agent_id       text;
ALTER TABLE tickets ADD COLUMN assigned_at             timestamptz;
ALTER TABLE tickets ADD COLUMN tags                    text[] NOT NULL DEFAULT '{}';
ALTER TABLE tickets ADD COLUMN first_response_agent_id text;
-- an agent's unfinished tickets (capacity, least open, "my tickets")
CREATE INDEX tickets_by_assignee ON tickets (shop_id, assignee_agent_id)
    WHERE assignee_agent_id IS NOT NULL AND status IN ('open', 'pending', 'on_hold');
-- the unassigned queue, oldest first
CREATE INDEX tickets_unassigned ON tickets (shop_id, team_id, created_at)
    WHERE assignee_agent_id IS NULL AND status IN ('open', 'pending', 'on_hold');
CREATE INDEX tickets_by_tag ON tickets USING gin (tags);

ALTER TABLE messages ADD COLUMN author_agent_id text;

-- Canned replies: one template per language, rendered in the template sandbox (schemas/templates.py).
CREATE TABLE macros (
    shop_id    text NOT NULL,
    id         text NOT NULL,
    name       text NOT NULL,
    texts      jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (shop_id, id)
);
CREATE UNIQUE INDEX macros_by_name ON macros (shop_id, lower(name));
