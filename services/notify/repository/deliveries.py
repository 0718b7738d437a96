"""SQL of the delivery queue outside the worker: queueing (the consumers), what the API shows and
replays, the gauges and the retention purge. The worker's claims and records are in attempts.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection, Database
from services.notify.repository import lanes

WAKE_CHANNEL = "careloop_notify_deliveries"


@dataclass(frozen=True)
class NewDelivery:
    id: str
    shop_id: str
    endpoint_id: str
    webhook_id: str
    event_id: str
    event_type: str
    event_time: datetime
    order_key: str
    body: bytes
    created_at: datetime


async def insert_deliveries(conn: Connection, deliveries: list[NewDelivery]) -> list[str]:
    """Queue the deliveries (seq in list order) and wake the workers; returns the event type of each
    one that was new (an (endpoint, event) pair already queued is skipped). Must run in a transaction:
    the lanes are locked first, and a new delivery is its lane's head if the lane has nothing
    unfinished (as committed by the lane's previous holder) and nothing earlier in this list."""
    if not deliveries:
        return []
    _in_transaction(conn)
    await lanes.lock(conn, [(d.endpoint_id, d.order_key) for d in deliveries])
    types = await conn.fetchval(
        f"""WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                     $6::text[], $7::timestamptz[], $8::text[], $9::bytea[],
                                     $10::timestamptz[])
                     WITH ORDINALITY
                     AS n(id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time,
                          order_key, body, created_at, position)),
            new AS (  -- the first of each (endpoint, event) not queued yet
                SELECT DISTINCT ON (endpoint_id, event_id) * FROM input i
                WHERE NOT EXISTS (SELECT 1 FROM deliveries d
                                  WHERE d.endpoint_id = i.endpoint_id AND d.event_id = i.event_id)
                ORDER BY endpoint_id, event_id, position),
            first_in_lane AS (
                SELECT DISTINCT ON (endpoint_id, order_key) position FROM new
                ORDER BY endpoint_id, order_key, position),
            inserted AS (
                INSERT INTO deliveries (id, shop_id, endpoint_id, webhook_id, event_id, event_type,
                                        event_time, order_key, body, next_attempt_at, created_at, head)
                SELECT id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time, order_key,
                       body, created_at, created_at,
                       position IN (SELECT position FROM first_in_lane) AND NOT EXISTS (
                           SELECT 1 FROM deliveries u
                           WHERE u.endpoint_id = new.endpoint_id AND u.order_key = new.order_key
                             AND u.status IN ('pending', 'delivering'))
                FROM new
                ORDER BY position  -- seq follows the list: an order's steps keep their order
                ON CONFLICT (endpoint_id, event_id) DO NOTHING
                RETURNING event_type)
            SELECT coalesce(array_agg(event_type), '{{}}') FROM inserted, pg_notify('{WAKE_CHANNEL}', '')""",  # noqa: S608
        [d.id for d in deliveries],
        [d.shop_id for d in deliveries],
        [d.endpoint_id for d in deliveries],
        [d.webhook_id for d in deliveries],
        [d.event_id for d in deliveries],
        [d.event_type for d in deliveries],
        [d.event_time for d in deliveries],
        [d.order_key for d in deliveries],
        [d.body for d in deliveries],
        [d.created_at for d in deliveries],
    )
    return list(types or [])


async def wake_workers(conn: Connection) -> None:
    await conn.execute(f"SELECT pg_notify('{WAKE_CHANNEL}', '')")


DELIVERY_COLUMNS = (
    "id, endpoint_id, webhook_id, event_id, event_type, event_time, order_key, status, total_attempts,"
    " next_attempt_at, last_status_code, last_error, created_at, finished_at"
)


async def list_deliveries(
    conn: Connection, shop_id: str, endpoint_id: str, status: str | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE shop_id = $1 AND endpoint_id = $2"  # noqa: S608
        " AND ($3::text IS NULL OR status = $3) ORDER BY seq DESC LIMIT $4",
        shop_id,
        endpoint_id,
        status,
        limit,
    )


async def get_delivery(conn: Connection, shop_id: str, delivery_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS}, body FROM deliveries WHERE shop_id = $1 AND id = $2",  # noqa: S608
        shop_id,
        delivery_id,
    )


async def list_attempts(conn: Connection, delivery_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT attempted_at, outcome, status_code, latency_ms, response_body, error"
        " FROM attempts WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )


_REPLAY = f"""WITH replayed AS (
                  UPDATE deliveries d SET status = 'pending', next_attempt_at = $3, round_attempts = 0,
                         finished_at = NULL,
                         head = d.seq = (SELECT min(r.seq) FROM deliveries r
                                         WHERE r.id = ANY($2::text[]) AND r.status IN ('succeeded', 'dead')
                                           AND r.endpoint_id = d.endpoint_id AND r.order_key = d.order_key)
                                AND NOT EXISTS (SELECT 1 FROM deliveries u
                                                WHERE u.endpoint_id = d.endpoint_id
                                                  AND u.order_key = d.order_key AND u.seq < d.seq
                                                  AND u.status IN ('pending', 'delivering'))
                  WHERE d.shop_id = $1 AND d.id = ANY($2::text[]) AND d.status = ANY($4::text[])
                  RETURNING {DELIVERY_COLUMNS}, d.seq, d.head),
              stepped_back AS (
                  UPDATE deliveries u SET head = false FROM replayed r
                  WHERE r.head AND u.endpoint_id = r.endpoint_id AND u.order_key = r.order_key
                    AND u.head AND u.status = 'pending' AND u.seq > r.seq)
              SELECT {DELIVERY_COLUMNS} FROM replayed"""  # noqa: S608
"""Queue finished deliveries again in their lanes' place (by seq), as the ordering rule has it: the
earliest replayed one of a lane is its head if nothing earlier is unfinished, and a pending head
behind it steps back (one in flight finishes its attempt). The lanes must be held."""


async def replay_delivery(
    conn: Connection, shop_id: str, delivery_id: str, now: datetime
) -> asyncpg.Record | None:
    """Queue a finished delivery again (same webhook-id), starting the retry schedule afresh; the
    delivery as queued, or None if the shop has no such finished delivery. Must run in a transaction."""
    _in_transaction(conn)
    await lanes.lock_of(conn, [delivery_id], shop_id)
    return await conn.fetchrow(_REPLAY, shop_id, [delivery_id], now, ["succeeded", "dead"])


async def replay_failed_since(
    conn: Connection, shop_id: str, endpoint_id: str, since: datetime, now: datetime
) -> int:
    """Queue again the endpoint's dead-lettered deliveries created at or after `since`. Must run in a
    transaction."""
    _in_transaction(conn)
    dead = await conn.fetch(
        "SELECT id, order_key FROM deliveries"
        " WHERE shop_id = $1 AND endpoint_id = $2 AND status = 'dead' AND created_at >= $3",
        shop_id,
        endpoint_id,
        since,
    )
    if not dead:
        return 0
    await lanes.lock(conn, [(endpoint_id, r["order_key"]) for r in dead])
    # those still dead now that their lanes are held
    return len(await conn.fetch(_REPLAY, shop_id, [r["id"] for r in dead], now, ["dead"]))


def _in_transaction(conn: Connection) -> None:
    if not conn.is_in_transaction():
        raise RuntimeError("the lanes' locks last until the transaction ends: call this in one")


async def queue_stats(conn: Connection) -> asyncpg.Record:
    """From the partial indexes of unfinished and of dead deliveries: never the whole history."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'delivering')) AS depth,
                  (SELECT min(created_at) FROM deliveries
                   WHERE status IN ('pending', 'delivering')) AS oldest,
                  (SELECT count(*) FROM deliveries WHERE status = 'dead') AS dead,
                  (SELECT count(*) FROM endpoints WHERE NOT enabled) AS disabled"""
    )
    assert row is not None
    return row


async def purge_finished(db: Database, before: datetime, batch: int) -> int:
    """Delete up to `batch` deliveries finished before `before` (their attempts go with them)."""
    async with db.pool.acquire() as conn:
        rows = await conn.fetch(
            """DELETE FROM deliveries WHERE id IN (
                   SELECT id FROM deliveries
                   WHERE status IN ('succeeded', 'dead') AND finished_at < $1
                   LIMIT $2)
               RETURNING id""",
            before,
            batch,
        )
    return len(rows)
