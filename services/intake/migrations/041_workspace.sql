-- The workspace's sign-in sessions (issue #15; docs/workspace.md). The browser holds a random session
-- id in an HttpOnly cookie; only its SHA-256 is kept here, so these rows sign nobody in. A session
-- lasts until it expires or its agent signs out, is deactivated or gets a new token (the token's hash
-- it was opened with must still be the agent's).
CREATE TABLE workspace_sessions (
    id_sha256    text PRIMARY KEY,
    shop_id      text NOT NULL,
    agent_id     text NOT NULL,
    token_sha256 text NOT NULL,
    locale       text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
-- expired sessions are removed at each sign-in of their shop
CREATE INDEX workspace_sessions_expiry ON workspace_sessions (shop_id, expires_at);
