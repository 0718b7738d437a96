-- Who did what, from every service (audit.events, runtime/audit.py): appended by intake's consumer,
-- read by GET /v1/audit, and never changed. The service's role owns the table, so no GRANT/REVOKE can
-- take UPDATE and DELETE from it: the trigger below refuses them (and TRUNCATE) instead. The one
-- exception is the retention sweep, which names the cutoff of its own transaction
-- (set_config('careloop.audit_purge_before', …, true)) and may delete only rows older than that.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    shop_id     text,
    service     text NOT NULL,
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL,
    agent       text,
    action      text NOT NULL,
    target      text NOT NULL,
    source_ip   text,
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_by_shop ON audit_log (shop_id, at DESC, id DESC);
CREATE INDEX audit_log_by_time ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.at < NULLIF(current_setting('careloop.audit_purge_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
