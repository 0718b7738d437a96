"""SQL of the delivery queue outside the worker: queueing (the consumers), what the API shows and
replays, the gauges and the retention purge. The worker's claims and records are in attempts.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection, Database

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
    """Queue the deliveries (seq in list order) and wake the workers, in one round trip; returns the
    event type of each one that was new (an (endpoint, event) pair already queued is skipped)."""
    types = await conn.fetchval(
        f"""WITH inserted AS (
                INSERT INTO deliveries (id, shop_id, endpoint_id, webhook_id, event_id, event_type,
                                        event_time, order_key, body, next_attempt_at, created_at)
                SELECT id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time, order_key,
                       body, created_at, created_at
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                            $7::timestamptz[], $8::text[], $9::bytea[], $10::timestamptz[])
                     WITH ORDINALITY
                     AS n(id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time,
                          order_key, body, created_at, position)
                ORDER BY position  -- seq follows the list: an order's steps keep their order
                ON CONFLICT (endpoint_id, event_id) DO NOTHING
                RETURNING event_type)
            SELECT coalesce(array_agg(event_type), '{{}}') FROM inserted, pg_notify('{WAKE_CHANNEL}', '')""",
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
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE shop_id = $1 AND endpoint_id = $2"
        " AND ($3::text IS NULL OR status = $3) ORDER BY seq DESC LIMIT $4",
        shop_id,
        endpoint_id,
        status,
        limit,
    )


async def get_delivery(conn: Connection, shop_id: str, delivery_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DELIVERY_COLUMNS}, body FROM deliveries WHERE shop_id = $1 AND id = $2",
        shop_id,
        delivery_id,
    )


async def list_attempts(conn: Connection, delivery_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT attempted_at, outcome, status_code, latency_ms, response_body, error"
        " FROM attempts WHERE delivery_id = $1 ORDER BY id",
        delivery_id,
    )


async def replay_delivery(
    conn: Connection, shop_id: str, delivery_id: str, now: datetime
) -> asyncpg.Record | None:
    """Queue a finished delivery again (same webhook-id), starting the retry schedule afresh; the
    delivery as queued, or None if the shop has no such finished delivery."""
    return await conn.fetchrow(
        f"""UPDATE deliveries SET status = 'pending', next_attempt_at = $3, round_attempts = 0,
                   finished_at = NULL
            WHERE shop_id = $1 AND id = $2 AND status IN ('succeeded', 'dead')
            RETURNING {DELIVERY_COLUMNS}""",
        shop_id,
        delivery_id,
        now,
    )


async def replay_failed_since(
    conn: Connection, shop_id: str, endpoint_id: str, since: datetime, now: datetime
) -> int:
    rows = await conn.fetch(
        """UPDATE deliveries SET status = 'pending', next_attempt_at = $4, round_attempts = 0,
                  finished_at = NULL
           WHERE shop_id = $1 AND endpoint_id = $2 AND status = 'dead' AND created_at >= $3
           RETURNING id""",
        shop_id,
        endpoint_id,
        since,
        now,
    )
    return len(rows)


async def queue_stats(conn: Connection) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status IN ('pending', 'delivering')) AS depth,
                  min(created_at) FILTER (WHERE status IN ('pending', 'delivering')) AS oldest,
                  count(*) FILTER (WHERE status = 'dead') AS dead,
                  (SELECT count(*) FROM endpoints WHERE NOT enabled) AS disabled
           FROM deliveries"""
    )
    assert row is not None
    return row


async def purge_finished(db: Database, before: datetime, batch: int) -> int:
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
