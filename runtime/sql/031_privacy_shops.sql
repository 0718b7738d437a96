-- The consumers' first look (runtime/erasure.py without_erased): which of a batch's shops have erased
-- anyone at all, under the same shared per-shop locks as privacy_erased. A batch of shops that erased
-- nobody is applied as it is, without the digests of every identity of every event being made and
-- looked up; the locks stay held to the end of the transaction, so no erasure can commit in between.
CREATE FUNCTION privacy_erased_shops(shops text[])
RETURNS TABLE (shop_id text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('careloop-privacy:' || current_schema() || ':' || s))
    FROM (SELECT DISTINCT s FROM unnest(shops) AS u (s) ORDER BY s) AS sorted;
    RETURN QUERY
        SELECT u.s FROM unnest(shops) AS u (s)
        WHERE EXISTS (SELECT 1 FROM erased_customers e WHERE e.shop_id = u.s);
END
$$;
