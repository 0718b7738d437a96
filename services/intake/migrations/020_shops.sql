-- The shops and their API keys as the operator API keeps them: the authority. Every change is
-- published whole on shops.state through the outbox, in the same transaction, and every service
-- (intake too) folds that topic into its own shop_states (runtime/shop_state.py).
CREATE TABLE shops (
    id              text PRIMARY KEY,
    version         bigint NOT NULL,
    name            text NOT NULL,
    timezone        text NOT NULL,
    locale          text NOT NULL,
    country         text,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    url             text,
    public_base_url text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- A key is kept only as its SHA-256; the key itself is shown once, when it is issued. last_used_at
-- is intake's own record of use, flushed from memory by a sweep (docs/operations.md).
CREATE TABLE shop_keys (
    shop_id      text NOT NULL REFERENCES shops (id),
    key_id       text NOT NULL,
    name         text NOT NULL,
    sha256       text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (shop_id, key_id)
);
