"""A claim costs the same at a backlog of a million queued deliveries as at a thousand.

Times nothing: every statement of one worker round — the claim (ready heads, the claiming UPDATE),
recording a batch of successes (which hands each lane to its next delivery) and queueing a batch —
runs through the repository as the service runs it, each one first under
`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` in a savepoint that is rolled back, and what it touched is
counted: shared buffers (hit + read) and rows read (returned by sequential scans and index scans, as
Postgres counts them per transaction).

The queue is bulk-loaded server-side in the shape a backlog has: many endpoints (one disabled, one
failing: each of its lanes waits for a retry while the steps behind are long due), lanes of several
steps whose heads are due at random times, some heads in flight, some waiting for a retry, and a
finished history beside it. Measured at 1,000, then at 1,000,000 before the planner's statistics
caught up (as right after a burst) and after. The head-of-line query this replaced read every due
step of the failing endpoint on every claim: thousands of times more at the large backlog.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from runtime.db import Connection
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from services.notify import bootstrap
from services.notify.domain.outcome import HEALTHY
from services.notify.repository import attempts, deliveries
from services.notify.repository.attempts import Success
from services.notify.repository.deliveries import NewDelivery
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ENDPOINTS = 50
FAILING = 7
"""The endpoint whose heads all wait for a retry."""
DISABLED = ENDPOINTS - 1
DEPTH = 4
"""Deliveries queued per lane: its head and the steps behind it."""
IN_FLIGHT = 64
"""Heads being attempted (leased): what one worker has in flight, whatever the backlog."""
BATCH = 100
"""Heads claimed, successes recorded and deliveries queued per round (the default claim batch)."""
SMALL, LARGE = 1_000, 1_000_000
FACTOR = 3.0
"""How much more a round may touch at the large backlog than at the small one: a B-tree a level
deeper, and heads spread over more heap pages; a cost that grew with the backlog would be hundreds
of times more."""
ROWS_PER_DELIVERY = 20
"""Rows a stage may read per delivery it handles at the large backlog."""

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Cost:
    buffers: int
    rows: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.buffers + other.buffers, self.rows + other.rows)


ROWS_READ = """SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(c.oid)), 0)
               FROM pg_class c
               WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'i')"""
"""Rows the transaction has read so far from the schema's tables and indexes: those returned by
sequential scans and the index entries returned by index scans, in functions and foreign-key checks
too (Postgres counts them per transaction as it goes)."""


class Meter:
    """A connection that runs every statement first under EXPLAIN ANALYZE in a rolled-back savepoint,
    keeping what it cost, and then for real."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.costs: list[Cost] = []

    def is_in_transaction(self) -> bool:
        return self._conn.is_in_transaction()

    def transaction(self) -> Any:
        return self._conn.transaction()

    async def _measure(self, query: str, args: tuple[Any, ...]) -> None:
        savepoint = self._conn.transaction()
        await savepoint.start()
        try:
            before = await self._conn.fetchval(ROWS_READ)
            explained = await self._conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, *args)
            rows = await self._conn.fetchval(ROWS_READ) - before
        finally:
            await savepoint.rollback()
        plan = (explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"]
        # the top node's buffers include its children's (and a function's statements)
        self.costs.append(Cost(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"], int(rows)))

    async def fetch(self, query: str, *args: Any) -> Any:
        await self._measure(query, args)
        return await self._conn.fetch(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        await self._measure(query, args)
        return await self._conn.fetchval(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        await self._measure(query, args)
        return await self._conn.fetchrow(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        await self._measure(query, args)
        return await self._conn.execute(query, *args)

    def total(self) -> Cost:
        total = Cost(0, 0)
        for cost in self.costs:
            total += cost
        self.costs.clear()
        return total


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as service:
        yield service


async def seed_endpoints(conn: Connection) -> None:
    # the statistics stay those of the moment the test takes them
    await conn.execute("ALTER TABLE deliveries SET (autovacuum_enabled = false)")
    await conn.execute(
        """INSERT INTO endpoints (id, shop_id, url, event_types, enabled, secret, created_at, updated_at)
           SELECT 'ep_' || i, $1, 'https://ep' || i || '.example/hook', '{*}', i <> $4,
                  'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', $3, $3
           FROM generate_series(0, $2 - 1) i""",
        SHOP_A,
        ENDPOINTS,
        NOW,
        DISABLED,
    )


async def load(conn: Connection, start: int, count: int) -> None:
    """Queue deliveries start..start+count-1 in lanes of DEPTH (lane n // DEPTH, on endpoint lane %
    ENDPOINTS), as the service leaves them: each lane's first step its head, due at a random time in
    the last hour, or waiting for a retry an hour ahead (one lane in ten, and every lane of FAILING,
    whose steps behind the head are due since two hours); the first IN_FLIGHT heads leased; plus a
    finished delivery per lane in lanes of their own."""
    await conn.execute("SELECT setseed($1)", start / (LARGE + 1))
    await conn.execute(
        """INSERT INTO deliveries (id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time,
                                   order_key, body, status, head, round_attempts, total_attempts,
                                   next_attempt_at, claim_token, lease_until, created_at)
           SELECT 'dlv_' || n, $1, 'ep_' || (lane % $4), 'msg_' || n, 'evt_' || n, 'order.paid', t.at,
                  'order:' || lane, convert_to(repeat('x', 200), 'UTF8'),
                  CASE WHEN leased THEN 'delivering' ELSE 'pending' END,
                  step = 0, retrying::int, retrying::int,
                  CASE WHEN retrying THEN t.at + interval '1 hour'
                       WHEN lane % $4 = $8 THEN t.at - interval '2 hours' + random() * interval '1 minute'
                       ELSE t.at - random() * interval '1 hour' END,
                  CASE WHEN leased THEN 'worker' END,
                  CASE WHEN leased THEN clock_timestamp() + interval '1 hour' END,
                  t.at - interval '2 hours'
           FROM (SELECT $5::timestamptz AS at) t,
                generate_series($2::bigint, $2 + $3 - 1) n,
                LATERAL (SELECT n / $7 AS lane, n % $7 AS step) l,
                LATERAL (SELECT step = 0 AND lane < $6 AS leased,
                                step = 0 AND lane >= $6 AND (lane % 10 = 9 OR lane % $4 = $8) AS retrying) r
           ORDER BY n""",
        SHOP_A,
        start,
        count,
        ENDPOINTS,
        NOW,
        IN_FLIGHT,
        DEPTH,
        FAILING,
    )
    await conn.execute(
        "INSERT INTO lanes SELECT DISTINCT endpoint_id, order_key FROM deliveries WHERE id LIKE 'dlv_%'"
        " AND seq > (SELECT max(seq) FROM deliveries) - $1",
        count,
    )
    await conn.execute(
        """INSERT INTO deliveries (id, shop_id, endpoint_id, webhook_id, event_id, event_type, event_time,
                                   order_key, body, status, round_attempts, total_attempts,
                                   next_attempt_at, created_at, finished_at, last_status_code)
           SELECT 'old_' || n, $1, 'ep_' || (n % $4), 'msg_old_' || n, 'evt_old_' || n, 'order.paid',
                  t.at, 'done:' || n, convert_to(repeat('x', 200), 'UTF8'), 'succeeded', 1, 1,
                  t.at - interval '3 hours', t.at - interval '3 hours',
                  t.at - interval '150 minutes', 200
           FROM (SELECT $5::timestamptz AS at) t,
                generate_series($2::bigint / $6, ($2 + $3) / $6 - 1) n""",
        SHOP_A,
        start,
        count,
        ENDPOINTS,
        NOW,
        DEPTH,
    )


async def round_costs(runtime: ServiceRuntime, tag: str) -> dict[str, Cost]:
    """One worker round over the queue as it is, measured statement by statement, then undone."""
    async with runtime.db.pool.acquire() as raw:
        transaction = raw.transaction()
        await transaction.start()
        try:
            meter = Meter(raw)
            conn = cast(Connection, meter)
            heads, _ = await attempts.ready_heads(conn, NOW, BATCH)
            claimed = await attempts.claim(conn, [h.id for h in heads], "token-" + tag, 30.0)
            claim = meter.total()
            successes = [Success(c.id, c.claim_token, NOW, NOW, 200, 1.0, "", HEALTHY) for c in claimed]
            recorded = await attempts.record_successes(conn, successes)
            record = meter.total()
            queued = await deliveries.insert_deliveries(conn, new_deliveries(tag))
            queue = meter.total()
        finally:
            await transaction.rollback()
    assert len(heads) == len(claimed) == BATCH
    assert sum(recorded.values()) == BATCH, "every lane claimed had a step waiting behind its head"
    assert len(queued) == BATCH
    return {"claim": claim, "record": record, "queue": queue}


def new_deliveries(tag: str) -> list[NewDelivery]:
    """Half into lanes that are queued already, half into new ones."""
    return [
        NewDelivery(
            f"dlv_new_{tag}_{i}",
            SHOP_A,
            f"ep_{i % ENDPOINTS}",
            f"msg_new_{tag}_{i}",
            f"evt_new_{tag}_{i}_{uuid.uuid4().hex}",
            "order.shipped",
            NOW,
            f"order:{i + 100}" if i % 2 else f"order:new-{i}",
            b"{}",
            NOW,
        )
        for i in range(BATCH)
    ]


async def check_heads(conn: Connection, queued: int) -> None:
    """The load is what the service would have left: each lane's earliest unfinished step its head,
    and no other."""
    row = await conn.fetchrow(
        """SELECT count(*) AS unfinished, count(*) FILTER (WHERE head) AS heads,
                  count(*) FILTER (WHERE head <> (seq = first)) AS wrong
           FROM (SELECT head, seq, min(seq) OVER (PARTITION BY endpoint_id, order_key) AS first
                 FROM deliveries WHERE status IN ('pending', 'delivering')) u"""
    )
    assert row is not None
    assert (row["unfinished"], row["heads"], row["wrong"]) == (queued, queued // DEPTH, 0)


async def test_a_round_costs_the_same_at_a_million_queued_as_at_a_thousand(runtime: ServiceRuntime) -> None:
    async with runtime.db.pool.acquire() as conn:
        await seed_endpoints(conn)
        await load(conn, 0, SMALL)
        await check_heads(conn, SMALL)
        await conn.execute("VACUUM ANALYZE deliveries")
    small = await round_costs(runtime, "small")

    async with runtime.db.pool.acquire() as conn:
        await load(conn, SMALL, LARGE - SMALL)
        await check_heads(conn, LARGE)
    stale = await round_costs(runtime, "stale")  # the planner still believes the queue is small
    async with runtime.db.pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE deliveries")
    large = await round_costs(runtime, "large")

    report = {stage: (small[stage], stale[stage], large[stage]) for stage in small}
    print(report)
    for stage, (at_small, *at_large) in report.items():
        for cost in at_large:
            assert cost.buffers <= FACTOR * at_small.buffers, (stage, report)
            assert cost.rows <= FACTOR * at_small.rows, (stage, report)
            assert cost.rows <= ROWS_PER_DELIVERY * BATCH, (stage, report)
