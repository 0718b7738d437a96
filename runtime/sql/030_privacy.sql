-- Privacy requests (docs/privacy.md): the customers a service erased, remembered by the SHA-256 of each
-- identity (runtime/privacy.py digest), never the identity itself. Every consumer looks here before
-- it stores an event (runtime/erasure.py): an event naming an erased identity is applied without its
-- personal fields.
CREATE TABLE erased_customers (
    shop_id     text NOT NULL,
    digest      text NOT NULL,
    kind        text NOT NULL,
    request_id  text NOT NULL,
    erased_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, digest)
);

-- The consumers' look-up, under a shared lock per shop that an erasure takes exclusively: a batch
-- being applied finishes before an erasure reads the rows, and a batch that waited for an erasure
-- sees its rows here. (A function: in READ COMMITTED each of its statements takes a new snapshot,
-- so the look-up after the wait sees what the erasure committed; one statement would not.)
CREATE FUNCTION privacy_erased(shops text[], digests text[])
RETURNS TABLE (shop_id text, digest text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('careloop-privacy:' || current_schema() || ':' || s))
    FROM (SELECT DISTINCT s FROM unnest(shops) AS u (s) ORDER BY s) AS sorted;
    RETURN QUERY
        SELECT e.shop_id, e.digest
        FROM erased_customers e
        JOIN unnest(shops, digests) AS q (shop_id, digest) ON e.shop_id = q.shop_id AND e.digest = q.digest;
END
$$;
