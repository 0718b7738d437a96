"""SQL of the delivery worker: the ready heads and their claim, and recording each attempt with what
the outcome policy decided (the delivery succeeded, retried or dead-lettered; the endpoint's health)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection
from services.notify.domain.outcome import Health
from services.notify.domain.queue import DeliveryStatus, QueuedDelivery
from services.notify.repository import lanes
from services.notify.repository.endpoints import ENDPOINT_COLUMNS, Endpoint

_STATUSES = {s.value: s for s in DeliveryStatus}
"""A dict lookup per row: calling the enum class was a visible share of a claim round's CPU."""
_HEAD_ENDPOINT_COLUMNS = ", ".join(f"e.{c} AS e_{c}" for c in ENDPOINT_COLUMNS.split(", "))


READY_HEADS = f"""SELECT h.id, h.endpoint_id, h.order_key, h.seq, h.status, h.next_attempt_at,
                         h.lease_expired, {_HEAD_ENDPOINT_COLUMNS}
                  FROM claimable_heads($1, $2) h
                  JOIN endpoints e ON e.id = h.endpoint_id
                  ORDER BY h.next_attempt_at, h.seq"""  # noqa: S608
"""claimable_heads (migrations/002_lane_heads.sql) walks the heads' own index in due order with its
plan pinned: it reads what it returns, plus the heads it passes over (in flight, or of a disabled
endpoint), never the deliveries queued behind them. tests/notify/test_queue_cost_real.py holds its
cost at a backlog of a million to its cost at a thousand."""


async def ready_heads(
    conn: Connection, now: datetime, limit: int
) -> tuple[list[QueuedDelivery], dict[str, Endpoint]]:
    """Due, claimable lane heads (each lane's earliest unfinished delivery) and their endpoints, in
    one round trip."""
    rows = await conn.fetch(READY_HEADS, now, limit)
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


CLAIM = """UPDATE deliveries d
           SET status = 'delivering', claim_token = $2,
               lease_until = clock_timestamp() + make_interval(secs => $3)
           FROM (SELECT id FROM deliveries
                 WHERE id = ANY($1) AND head
                   AND (status = 'pending' OR (status = 'delivering' AND lease_until < clock_timestamp()))
                 FOR UPDATE SKIP LOCKED) c
           WHERE d.id = c.id
           RETURNING d.id, d.endpoint_id, d.webhook_id, d.event_type, d.event_time, d.body,
                     d.round_attempts"""


async def claim(
    conn: Connection, ids: list[str], claim_token: str, lease_seconds: float
) -> list[ClaimedDelivery]:
    rows = await conn.fetch(
        CLAIM,
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
    health: Health
    """The endpoint's health after it, as the outcome policy decided."""


async def record_successes(conn: Connection, successes: list[Success]) -> dict[str, bool]:
    """One atomic statement (after the lanes' lock) for a batch of successful attempts: mark each
    delivery succeeded if this worker still holds it (else it was deleted, or its lease taken over:
    the newer claim decides), log its attempt, hand its lane to the lane's next unfinished delivery,
    and give its endpoint the health decided for the endpoint's latest success (touching the endpoint
    row only if that changes it).
    Returns, for each delivery recorded, whether a later step of its order waits for this endpoint."""
    ids = [s.delivery_id for s in successes]
    async with conn.transaction():
        await lanes.lock_of(conn, ids)
        rows = await conn.fetch(
            """WITH input AS (
                   SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                        $5::int[], $6::float8[], $7::text[], $8::int[],
                                        $9::timestamptz[], $10::timestamptz[])
                       AS i(id, claim_token, attempted_at, finished_at, status_code, latency_ms,
                            response_body, breaker_failures, breaker_open_until, failing_since)),
               done AS (
                   UPDATE deliveries d SET status = 'succeeded', head = false, finished_at = i.finished_at,
                          last_status_code = i.status_code, last_error = NULL,
                          round_attempts = d.round_attempts + 1, total_attempts = d.total_attempts + 1,
                          claim_token = NULL, lease_until = NULL
                   FROM input i
                   WHERE d.id = i.id AND d.claim_token = i.claim_token AND d.status = 'delivering'
                   RETURNING d.id, d.endpoint_id, d.order_key, i.finished_at, i.breaker_failures,
                             i.breaker_open_until, i.failing_since),
               logged AS (
                   INSERT INTO attempts (delivery_id, attempted_at, outcome, status_code, latency_ms,
                                         response_body)
                   SELECT i.id, i.attempted_at, 'success', i.status_code, i.latency_ms, i.response_body
                   FROM input i JOIN done ON done.id = i.id),
               healthy AS (
                   UPDATE endpoints e SET breaker_failures = h.breaker_failures,
                          breaker_open_until = h.breaker_open_until, failing_since = h.failing_since,
                          updated_at = h.finished_at
                   FROM (SELECT DISTINCT ON (endpoint_id) endpoint_id, finished_at, breaker_failures,
                                breaker_open_until, failing_since
                         FROM done ORDER BY endpoint_id, finished_at DESC) h
                   WHERE e.id = h.endpoint_id
                     AND (e.breaker_failures, e.breaker_open_until, e.failing_since)
                         IS DISTINCT FROM (h.breaker_failures, h.breaker_open_until, h.failing_since)),
               """  # noqa: S608
            + lanes.FINISH_LANES.format(finished="$1::text[]")
            + """
               SELECT after AS id, id IS NOT NULL AS has_next FROM next""",
            ids,
            [s.claim_token for s in successes],
            [s.attempted_at for s in successes],
            [s.finished_at for s in successes],
            [s.status_code for s in successes],
            [s.latency_ms for s in successes],
            [s.response_body for s in successes],
            [s.health.breaker.failures for s in successes],
            [s.health.breaker.open_until for s in successes],
            [s.health.failing_since for s in successes],
        )
    return {r["id"]: bool(r["has_next"]) for r in rows}


async def lock_lane(conn: Connection, delivery_id: str) -> None:
    """Hold the delivery's lane until the transaction ends: taken first by a transaction that may
    finish the delivery (finish_delivery)."""
    await lanes.lock_of(conn, [delivery_id])


async def finish_delivery(
    conn: Connection,
    delivery_id: str,
    status: DeliveryStatus,
    now: datetime,
    status_code: int | None,
    error: str | None,
) -> None:
    """Finish the delivery and hand its lane to the next unfinished delivery; the transaction must
    hold the lane (lock_lane)."""
    await conn.execute(
        """WITH done AS (
               UPDATE deliveries SET status = $2, head = false, finished_at = $3, last_status_code = $4,
                      last_error = $5, round_attempts = round_attempts + 1,
                      total_attempts = total_attempts + 1, claim_token = NULL, lease_until = NULL
               WHERE id = $1
               RETURNING id, endpoint_id, order_key),"""  # noqa: S608
        + lanes.FINISH_LANES.format(finished="ARRAY[$1::text]")
        + """
           SELECT count(*) FROM next""",
        delivery_id,
        status.value,
        now,
        status_code,
        error,
    )


async def reschedule_delivery(
    conn: Connection, delivery_id: str, next_attempt_at: datetime, status_code: int | None, error: str | None
) -> None:
    """Retry the delivery at `next_attempt_at`; the transaction must hold its lane (lock_lane). It stays
    its lane's head unless an earlier step of the lane was replayed while it was being attempted: that
    one is the head already, and this one waits behind it."""
    await conn.execute(
        """UPDATE deliveries d SET status = 'pending', next_attempt_at = $2, last_status_code = $3,
                  last_error = $4, round_attempts = round_attempts + 1, total_attempts = total_attempts + 1,
                  claim_token = NULL, lease_until = NULL,
                  head = NOT EXISTS (SELECT 1 FROM deliveries u
                                     WHERE u.endpoint_id = d.endpoint_id AND u.order_key = d.order_key
                                       AND u.seq < d.seq AND u.status IN ('pending', 'delivering'))
           WHERE id = $1""",
        delivery_id,
        next_attempt_at,
        status_code,
        error,
    )


async def hand_back(conn: Connection, claimed: list[ClaimedDelivery]) -> None:
    """Release claims whose attempts were abandoned (shutdown) for any worker to take at once, instead
    of when their leases end; a claim taken over meanwhile is left alone."""
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', claim_token = NULL, lease_until = NULL"
        " WHERE id = ANY($1) AND claim_token = ANY($2) AND status = 'delivering'",
        [c.id for c in claimed],
        list({c.claim_token for c in claimed}),
    )
