-- Only the head of each (endpoint, order_key) lane is claimable: the lane's earliest unfinished
-- delivery. `head` is decided when a delivery is queued (the lane had nothing unfinished) and handed
-- to the next one in the transaction that finishes the head, so a claim reads the heads in due order
-- from their own small index instead of checking every due row for an earlier unfinished one (which
-- cost more the longer the queue grew).
ALTER TABLE deliveries ADD COLUMN head boolean NOT NULL DEFAULT false;

-- What is queued now: each lane's earliest unfinished delivery is its head.
UPDATE deliveries d SET head = true
FROM (SELECT DISTINCT ON (endpoint_id, order_key) id
      FROM deliveries
      WHERE status IN ('pending', 'delivering')
      ORDER BY endpoint_id, order_key, seq) h
WHERE d.id = h.id;

-- One row per lane, held (locked) by every transaction that changes which of the lane's deliveries
-- are unfinished: queueing, finishing, replaying. Deciding a head reads the lane after taking its
-- lock, so a delivery queued while the head finishes is never left without a head. Rows are only
-- locks: one missing is created by the next transaction that needs it, and removed when its lane is
-- empty. No foreign key to endpoints: deleting an endpoint would then lock its lanes after the
-- endpoint, the reverse of every other transaction's order (lanes first), and deadlock with a batch
-- being queued; the retention sweep removes the rows of deleted endpoints instead.
CREATE TABLE lanes (
    endpoint_id  text NOT NULL,
    order_key    text NOT NULL,
    PRIMARY KEY (endpoint_id, order_key)
);

-- The claim's index: the heads in due order. The due index over every unfinished delivery is gone.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_heads ON deliveries (next_attempt_at, seq)
    WHERE head AND status IN ('pending', 'delivering');

-- The claim's read: due, claimable heads of enabled endpoints, oldest due first, walked on
-- deliveries_heads and stopping after `n`. Its plan is pinned here because the planner, left to the
-- statistics, read and sorted every head when they were stale (a table that grew in seconds is
-- never analyzed in time): a claim then cost as much as the lanes queued, the kind of plan that
-- made the old head-of-line query collapse. With these off, nothing but the index walk is left.
CREATE FUNCTION claimable_heads(due timestamptz, n integer)
RETURNS TABLE (id text, endpoint_id text, order_key text, seq bigint, status text,
               next_attempt_at timestamptz, lease_expired boolean)
LANGUAGE sql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
ROWS 100
AS $$
    SELECT d.id, d.endpoint_id, d.order_key, d.seq, d.status, d.next_attempt_at,
           d.status = 'delivering'
    FROM deliveries d
    JOIN endpoints e ON e.id = d.endpoint_id
    WHERE d.head AND d.status IN ('pending', 'delivering') AND d.next_attempt_at <= due
      AND (d.status = 'pending' OR d.lease_until < clock_timestamp())
      AND e.enabled
    ORDER BY d.next_attempt_at, d.seq
    LIMIT n
$$;

-- Finished deliveries stay out of the queue's indexes; these serve the retention purge, the DLQ
-- gauge and replay-failed without reading the rest of the table.
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE status IN ('succeeded', 'dead');
CREATE INDEX deliveries_dead ON deliveries (endpoint_id, created_at) WHERE status = 'dead';
