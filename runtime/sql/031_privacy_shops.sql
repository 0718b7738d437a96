-- One key for a shop's privacy lock, and one way to share it, for every statement that takes it:
-- the consumers' look-ups below (shared) and an erasure (runtime/erasure.py lock_shop, exclusive).
CREATE FUNCTION privacy_lock_key(shop text) RETURNS integer
LANGUAGE sql STABLE
AS $$ SELECT hashtext('careloop-privacy:' || current_schema() || ':' || shop) $$;

-- Shared locks of the shops, in one order so two batches never wait for each other crosswise.
CREATE FUNCTION privacy_lock_shared(shops text[]) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(privacy_lock_key(s))
    FROM (SELECT DISTINCT s FROM unnest(shops) AS u (s) ORDER BY s) AS sorted;
END
$$;

-- As in 030, with the lock taken through privacy_lock_shared (the look-up still a statement of its
-- own after the wait, so it sees what an erasure committed meanwhile).
CREATE OR REPLACE FUNCTION privacy_erased(shops text[], digests text[])
RETURNS TABLE (shop_id text, digest text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM privacy_lock_shared(shops);
    RETURN QUERY
        SELECT e.shop_id, e.digest
        FROM erased_customers e
        JOIN unnest(shops, digests) AS q (shop_id, digest) ON e.shop_id = q.shop_id AND e.digest = q.digest;
END
$$;

-- The consumers' first look (runtime/erasure.py without_erased): which of a batch's shops have erased
-- anyone at all, under the same shared locks. A batch of shops that erased nobody is applied as it
-- is, without the digests of every identity of every event being made and looked up; the locks stay
-- held to the end of the transaction, so no erasure can commit in between.
CREATE FUNCTION privacy_erased_shops(shops text[])
RETURNS TABLE (shop_id text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM privacy_lock_shared(shops);
    RETURN QUERY
        SELECT u.s FROM unnest(shops) AS u (s)
        WHERE EXISTS (SELECT 1 FROM erased_customers e WHERE e.shop_id = u.s);
END
$$;
