"""SQL of the delivery lanes: one per (endpoint, order key), whose head (its earliest unfinished
delivery) is the only one of its deliveries a worker may claim.

Every transaction that changes which deliveries of a lane are unfinished (queueing, finishing,
replaying) first locks the lane's row, then decides the head in a later statement, whose snapshot
sees whatever the lane's previous holder committed. Without the lock, a delivery queued while its
lane's head was finishing could be judged "not a head" by the one and missed by the other's
promotion, and never be sent. Locks are taken in key order, so two transactions never wait for each
other in a circle, and before any delivery or endpoint row is touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.db import Connection

_LOCK = """INSERT INTO lanes (endpoint_id, order_key)
           {source}
           ORDER BY 1, 2
           ON CONFLICT (endpoint_id, order_key) DO UPDATE SET order_key = EXCLUDED.order_key WHERE false"""
"""ON CONFLICT ... WHERE false locks an existing row without writing a new version of it, and one
statement both creates a missing row and locks an existing one (a plain SELECT ... FOR UPDATE
would miss a row another transaction is creating)."""


async def lock(conn: Connection, lanes: Iterable[tuple[str, str]]) -> None:
    """Lock the (endpoint id, order key) lanes for the rest of the transaction."""
    keys = sorted(set(lanes))
    if keys:
        await conn.execute(
            _LOCK.format(source="SELECT * FROM unnest($1::text[], $2::text[])"),
            [k[0] for k in keys],
            [k[1] for k in keys],
        )


async def lock_of(conn: Connection, delivery_ids: list[str], shop_id: str | None = None) -> None:
    """Lock the lanes of these deliveries (of this shop, if given). A delivery's lane never changes,
    so reading it before the lock is taken is safe."""
    await conn.execute(
        _LOCK.format(
            source="SELECT DISTINCT endpoint_id, order_key FROM deliveries"
            " WHERE id = ANY($1::text[]) AND ($2::text IS NULL OR shop_id = $2)"
        ),
        delivery_ids,
        shop_id,
    )


FINISH_LANES = """
           next AS (
               SELECT done.id AS after, done.endpoint_id, done.order_key, n.id
               FROM done LEFT JOIN LATERAL (
                   SELECT u.id FROM deliveries u
                   WHERE u.endpoint_id = done.endpoint_id AND u.order_key = done.order_key
                     AND u.status IN ('pending', 'delivering') AND u.id <> ALL({finished})
                   ORDER BY u.seq LIMIT 1) n ON true),
           promoted AS (
               UPDATE deliveries d SET head = true FROM next WHERE d.id = next.id),
           emptied AS (
               DELETE FROM lanes l USING next
               WHERE next.id IS NULL
                 AND l.endpoint_id = next.endpoint_id AND l.order_key = next.order_key)"""
"""CTEs to follow a CTE `done` (id, endpoint_id, order_key) of deliveries just finished, whose lanes
the transaction holds: each lane's next unfinished delivery becomes its head, an emptied lane's row
goes. `{finished}` is the array of every id being finished (the statement's snapshot still shows
them unfinished). `next` has a row per finished delivery: `after` (its id) and `id`, the delivery
its lane went to (NULL: the lane is empty)."""


async def forget_idle(conn: Connection) -> int:
    """Remove lane rows with nothing unfinished left (their endpoint was deleted, or the lane was
    emptied without its row going). A lane row is only a lock, so one removed while a delivery is
    being queued into it does no harm: the next lock creates it again."""
    return len(
        await conn.fetch(
            """DELETE FROM lanes l
               WHERE NOT EXISTS (
                   SELECT 1 FROM deliveries u
                   WHERE u.endpoint_id = l.endpoint_id AND u.order_key = l.order_key
                     AND u.status IN ('pending', 'delivering'))
               RETURNING 1"""
        )
    )
