"""SQL of the delivery queue: queueing, claiming ready heads, recording attempts and their outcome,
what the API shows and replays, the gauges and the retention purge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection, Database
from services.notify.domain.queue import DeliveryStatus, QueuedDelivery
from services.notify.repository.endpoints import ENDPOINT_COLUMNS, Endpoint

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


_STATUSES = {s.value: s for s in DeliveryStatus}
"""A dict lookup per row: calling the enum class was a visible share of a claim round's CPU."""
_HEAD_ENDPOINT_COLUMNS = ", ".join(f"e.{c} AS e_{c}" for c in ENDPOINT_COLUMNS.split(", "))


async def ready_heads(
    conn: Connection, now: datetime, limit: int
) -> tuple[list[QueuedDelivery], dict[str, Endpoint]]:
    """Due, claimable deliveries with no unfinished earlier delivery for the same (endpoint, order),
    and their endpoints, in one round trip: walked in due order on the due index, each checked against
    the unfinished index, so the cost is proportional to what is due, not to the whole backlog."""
    rows = await conn.fetch(
        f"""SELECT d.id, d.endpoint_id, d.order_key, d.seq, d.status, d.next_attempt_at,
                  (d.status = 'delivering') AS lease_expired, {_HEAD_ENDPOINT_COLUMNS}
           FROM deliveries d
           JOIN endpoints e ON e.id = d.endpoint_id
           WHERE d.status IN ('pending', 'delivering') AND d.next_attempt_at <= $1
             AND (d.status = 'pending' OR d.lease_until < clock_timestamp())
             AND e.enabled
             AND NOT EXISTS (
                 SELECT 1 FROM deliveries earlier
                 WHERE earlier.endpoint_id = d.endpoint_id AND earlier.order_key = d.order_key
                   AND earlier.seq < d.seq AND earlier.status IN ('pending', 'delivering'))
           ORDER BY d.next_attempt_at, d.seq
           LIMIT $2""",
        now,
        limit,
    )
    heads = [
        QueuedDelivery(
            r["id"],
            r["endpoint_id"],
            r["order_key"],
            r["seq"],
            _STATUSES[r["status"]],
            r["next_attempt_at"],
            bool(r["lease_expired"]),
        )
        for r in rows
    ]
    endpoints: dict[str, Endpoint] = {}
    for r in rows:
        if r["endpoint_id"] not in endpoints:
            endpoints[r["endpoint_id"]] = Endpoint(**{c: r[f"e_{c}"] for c in ENDPOINT_COLUMNS.split(", ")})
    return heads, endpoints


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    endpoint_id: str
    webhook_id: str
    event_type: str
    event_time: datetime
    body: bytes
    round_attempts: int
    claim_token: str


async def claim(
    conn: Connection, ids: list[str], claim_token: str, lease_seconds: float
) -> list[ClaimedDelivery]:
    rows = await conn.fetch(
        """UPDATE deliveries d
           SET status = 'delivering', claim_token = $2,
               lease_until = clock_timestamp() + make_interval(secs => $3)
           FROM (SELECT id FROM deliveries
                 WHERE id = ANY($1)
                   AND (status = 'pending' OR (status = 'delivering' AND lease_until < clock_timestamp()))
                 FOR UPDATE SKIP LOCKED) c
           WHERE d.id = c.id
           RETURNING d.id, d.endpoint_id, d.webhook_id, d.event_type, d.event_time, d.body,
                     d.round_attempts""",
        ids,
        claim_token,
        lease_seconds,
    )
    return [
        ClaimedDelivery(
            r["id"],
            r["endpoint_id"],
            r["webhook_id"],
            r["event_type"],
            r["event_time"],
            bytes(r["body"]),
            r["round_attempts"],
            claim_token,
        )
        for r in rows
    ]


async def lock_claimed(conn: Connection, delivery_id: str, claim_token: str) -> asyncpg.Record | None:
    """The delivery if this worker still holds it (its lease was not taken over)."""
    return await conn.fetchrow(
        "SELECT id, shop_id, endpoint_id, webhook_id, event_type, event_time, round_attempts, total_attempts"
        " FROM deliveries WHERE id = $1 AND claim_token = $2 AND status = 'delivering' FOR UPDATE",
        delivery_id,
        claim_token,
    )


async def insert_attempt(
    conn: Connection,
    delivery_id: str,
    at: datetime,
    outcome: str,
    status_code: int | None,
    latency_ms: float,
    response_body: str | None,
    error: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO attempts
                  (delivery_id, attempted_at, outcome, status_code, latency_ms, response_body, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        delivery_id,
        at,
        outcome,
        status_code,
        latency_ms,
        response_body,
        error,
    )


@dataclass(frozen=True)
class Success:
    """A successful attempt to record."""

    delivery_id: str
    claim_token: str
    attempted_at: datetime
    finished_at: datetime
    status_code: int
    latency_ms: float
    response_body: str | None


async def record_successes(conn: Connection, successes: list[Success]) -> dict[str, bool]:
    """One atomic statement for a batch of successful attempts: mark each delivery succeeded if this
    worker still holds it (else it was deleted, or its lease taken over: the newer claim decides), log
    its attempt, and forget its endpoint's failures (touching the endpoint row only if it had any).
    Returns, for each delivery recorded, whether a later step of its order waits for this endpoint."""
    rows = await conn.fetch(
        """WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                    $5::int[], $6::float8[], $7::text[])
                   AS i(id, claim_token, attempted_at, finished_at, status_code, latency_ms, response_body)),
           done AS (
               UPDATE deliveries d SET status = 'succeeded', finished_at = i.finished_at,
                      last_status_code = i.status_code, last_error = NULL,
                      round_attempts = d.round_attempts + 1, total_attempts = d.total_attempts + 1,
                      claim_token = NULL, lease_until = NULL
               FROM input i
               WHERE d.id = i.id AND d.claim_token = i.claim_token AND d.status = 'delivering'
               RETURNING d.id, d.endpoint_id, d.order_key, d.seq, i.finished_at),
           logged AS (
               INSERT INTO attempts (delivery_id, attempted_at, outcome, status_code, latency_ms,
                                     response_body)
               SELECT i.id, i.attempted_at, 'success', i.status_code, i.latency_ms, i.response_body
               FROM input i JOIN done ON done.id = i.id),
           healthy AS (
               UPDATE endpoints e SET breaker_failures = 0, breaker_open_until = NULL,
                      failing_since = NULL, updated_at = h.finished_at
               FROM (SELECT endpoint_id, max(finished_at) AS finished_at FROM done GROUP BY endpoint_id) h
               WHERE e.id = h.endpoint_id
                 AND (e.breaker_failures <> 0 OR e.breaker_open_until IS NOT NULL
                      OR e.failing_since IS NOT NULL))
           SELECT done.id, EXISTS (
                      SELECT 1 FROM deliveries later
                      WHERE later.endpoint_id = done.endpoint_id AND later.order_key = done.order_key
                        AND later.seq > done.seq AND later.status IN ('pending', 'delivering')
                  ) AS has_next
           FROM done""",
        [s.delivery_id for s in successes],
        [s.claim_token for s in successes],
        [s.attempted_at for s in successes],
        [s.finished_at for s in successes],
        [s.status_code for s in successes],
        [s.latency_ms for s in successes],
        [s.response_body for s in successes],
    )
    return {r["id"]: bool(r["has_next"]) for r in rows}


async def finish_delivery(
    conn: Connection,
    delivery_id: str,
    status: DeliveryStatus,
    now: datetime,
    status_code: int | None,
    error: str | None,
) -> None:
    await conn.execute(
        """UPDATE deliveries SET status = $2, finished_at = $3, last_status_code = $4, last_error = $5,
                  round_attempts = round_attempts + 1, total_attempts = total_attempts + 1,
                  claim_token = NULL, lease_until = NULL
           WHERE id = $1""",
        delivery_id,
        status.value,
        now,
        status_code,
        error,
    )


async def reschedule_delivery(
    conn: Connection, delivery_id: str, next_attempt_at: datetime, status_code: int | None, error: str | None
) -> None:
    await conn.execute(
        """UPDATE deliveries SET status = 'pending', next_attempt_at = $2, last_status_code = $3,
                  last_error = $4, round_attempts = round_attempts + 1, total_attempts = total_attempts + 1,
                  claim_token = NULL, lease_until = NULL
           WHERE id = $1""",
        delivery_id,
        next_attempt_at,
        status_code,
        error,
    )


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
