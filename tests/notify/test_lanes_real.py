"""The lane heads over the real Postgres: the flags the claim reads are what the ordering rule
(domain/queue.py) says, after the migration and after every operation the service performs, and
stay so while deliveries are queued and finished concurrently in the same lanes.

The claim reads only flagged heads and keeps, per lane, the earliest (`ready`): so the property is
that the rule applied to the flagged rows gives the same heads as the rule applied to the whole queue.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.db import Connection
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from services.notify import bootstrap
from services.notify.domain.outcome import HEALTHY
from services.notify.domain.queue import DeliveryStatus, QueuedDelivery, heads, ready
from services.notify.domain.signing import new_secret
from services.notify.repository import attempts, deliveries, endpoints
from services.notify.repository.attempts import ClaimedDelivery, Success
from services.notify.repository.deliveries import NewDelivery
from services.notify.repository.endpoints import Endpoint
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENDPOINTS = ("ep_1", "ep_2")
ORDERS = ("order:o-1", "order:o-2", "order:o-3")


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as service:
        async with service.db.transaction() as conn:
            for endpoint_id in ENDPOINTS:
                await endpoints.insert_endpoint(conn, an_endpoint(endpoint_id))
        yield service


def an_endpoint(endpoint_id: str) -> Endpoint:
    return Endpoint(
        endpoint_id, SHOP_A, f"https://{endpoint_id}.example/hook", "", ["*"], None, True, None, None,
        new_secret(b"k" * 24), None, None, None, 0, None, AT, AT,
    )  # fmt: skip


def delivery(n: int, endpoint_id: str, order_key: str) -> NewDelivery:
    return NewDelivery(
        f"dlv_{n}", SHOP_A, endpoint_id, f"msg_{n}", f"evt_{n}", "order.paid", AT, order_key, b"{}", AT
    )


async def queue_rows(conn: Connection) -> list[tuple[QueuedDelivery, bool]]:
    rows = await conn.fetch(
        "SELECT id, endpoint_id, order_key, seq, status, next_attempt_at, head FROM deliveries ORDER BY seq"
    )
    return [
        (
            QueuedDelivery(
                r["id"], r["endpoint_id"], r["order_key"], r["seq"], DeliveryStatus(r["status"]),
                r["next_attempt_at"],
            ),
            r["head"],
        )
        for r in rows
    ]  # fmt: skip


async def assert_heads_follow_the_rule(conn: Connection) -> set[DeliveryStatus]:
    """...and return the statuses the queue holds."""
    rows = await queue_rows(conn)
    flagged = [d for d, head in rows if head and not d.status.finished]
    assert {d.id for d in heads(flagged)} == {d.id for d in heads(d for d, _ in rows)}
    assert not [d.id for d, head in rows if head and d.status.finished], "a finished delivery is a head"
    return {d.status for d, _ in rows}


# -- the migration -----------------------------------------------------------------------------------


async def test_the_migration_makes_each_lanes_earliest_unfinished_delivery_its_head(
    pg_infra: Settings,
) -> None:
    settings = pg_infra.for_service("notify")
    await ensure_service_schema(settings)
    runtime_sql = load_migrations(RUNTIME_SQL, "runtime")
    first, *later = load_migrations(bootstrap.MIGRATIONS, "notify")
    conn = await asyncpg.connect(settings.service_dsn(), server_settings={"search_path": settings.db_schema})
    try:
        await apply_migrations(conn, settings.db_schema, [*runtime_sql, first])
        await endpoints.insert_endpoint(conn, an_endpoint("ep_1"))
        await endpoints.insert_endpoint(conn, an_endpoint("ep_2"))
        # the queue as the head-of-line query left it: per lane, finished steps, then unfinished ones
        queued = [
            ("d1", "ep_1", "order:a", "succeeded"),
            ("d2", "ep_1", "order:a", "delivering"),  # in flight: the head, and stays so
            ("d3", "ep_1", "order:a", "pending"),
            ("d4", "ep_1", "order:b", "dead"),
            ("d5", "ep_1", "order:b", "pending"),  # after a dead letter: the head
            ("d6", "ep_2", "order:a", "pending"),  # the same order on another endpoint: its own lane
            ("d7", "ep_1", "order:b", "pending"),
            ("d8", "ep_2", "order:c", "succeeded"),  # a finished lane: no head
        ]
        for n, (delivery_id, endpoint_id, order_key, status) in enumerate(queued):
            await conn.execute(
                """INSERT INTO deliveries (id, shop_id, endpoint_id, webhook_id, event_id, event_type,
                                           event_time, order_key, body, status, next_attempt_at,
                                           created_at, lease_until)
                   VALUES ($1, $2, $3, $1, $1, 'order.paid', $4, $5, '{}', $6, $4, $4, $7)""",
                delivery_id,
                SHOP_A,
                endpoint_id,
                AT + timedelta(seconds=n),
                order_key,
                status,
                AT - timedelta(hours=1) if status == "delivering" else None,  # its worker died
            )
        applied = await apply_migrations(conn, settings.db_schema, [*runtime_sql, first, *later])
        assert applied == [m.version for m in later]
        flagged = await conn.fetch("SELECT id FROM deliveries WHERE head ORDER BY seq")
        assert [r["id"] for r in flagged] == ["d2", "d5", "d6"]
        await assert_heads_follow_the_rule(conn)
        claimable, _ = await attempts.ready_heads(conn, AT + timedelta(minutes=1), 100)
        assert [d.id for d in claimable] == ["d2", "d5", "d6"]  # d2's lease ran out: taken over
    finally:
        await conn.close()


# -- replay ------------------------------------------------------------------------------------------


async def flagged(conn: Connection) -> list[str]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM deliveries WHERE head ORDER BY seq")]


async def claim_one(conn: Connection, delivery_id: str) -> ClaimedDelivery:
    [claimed] = await attempts.claim(conn, [delivery_id], f"t-{delivery_id}-{time.monotonic()}", 60.0)
    return claimed


async def test_a_replayed_step_goes_before_the_later_steps_of_its_order_still_queued(
    runtime: ServiceRuntime,
) -> None:
    later = AT + timedelta(minutes=1)
    async with runtime.db.transaction() as conn:
        await deliveries.insert_deliveries(conn, [delivery(n, "ep_1", "order:o-1") for n in (1, 2, 3)])
        first = await claim_one(conn, "dlv_1")
        await attempts.lock_lane(conn, first.id)
        await attempts.finish_delivery(conn, first.id, DeliveryStatus.DEAD, AT, 500, "boom")
        assert await flagged(conn) == ["dlv_2"]

        await deliveries.replay_delivery(conn, SHOP_A, "dlv_1", AT)
        assert await flagged(conn) == ["dlv_1"]  # dlv_2 steps back behind it
        claimable, _ = await attempts.ready_heads(conn, later, 100)
        assert [d.id for d in claimable] == ["dlv_1"]
        again = await claim_one(conn, "dlv_1")
        await attempts.record_successes(
            conn, [Success(again.id, again.claim_token, AT, AT, 200, 1.0, "", HEALTHY)]
        )
        assert await flagged(conn) == ["dlv_2"]

        # replayed while a later step is being attempted: that attempt goes on, the replayed step is
        # next, and the later step waits behind it if it has to be retried
        in_flight = await claim_one(conn, "dlv_2")
        await deliveries.replay_delivery(conn, SHOP_A, "dlv_1", AT)
        assert await flagged(conn) == ["dlv_1", "dlv_2"]
        claimable, _ = await attempts.ready_heads(conn, later, 100)
        assert [d.id for d in claimable] == ["dlv_1"]
        await attempts.lock_lane(conn, in_flight.id)
        await attempts.reschedule_delivery(conn, in_flight.id, AT, 500, "boom")
        assert await flagged(conn) == ["dlv_1"]
        again = await claim_one(conn, "dlv_1")
        await attempts.record_successes(
            conn, [Success(again.id, again.claim_token, AT, AT, 200, 1.0, "", HEALTHY)]
        )
        assert await flagged(conn) == ["dlv_2"]
        await assert_heads_follow_the_rule(conn)


# -- every operation, in random order ----------------------------------------------------------------


@dataclass
class Worker:
    """What the model of a worker holds: its claims, and the deliveries it may still record."""

    claimed: dict[str, ClaimedDelivery] = field(default_factory=dict)
    queued: int = 0
    now: datetime = AT


async def op_queue(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    batch = []
    for _ in range(rng.randint(1, 4)):
        # now and then the same event again: skipped, and must not take a lane's head
        n = rng.randrange(max(1, w.queued)) if w.queued and rng.random() < 0.15 else w.queued
        w.queued = max(w.queued, n + 1)
        batch.append(delivery(n, ENDPOINTS[n % 2], rng.choice(ORDERS)))
    async with runtime.db.transaction() as conn:
        await deliveries.insert_deliveries(conn, batch)


async def op_claim(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    async with runtime.db.pool.acquire() as conn:
        found, _ = await attempts.ready_heads(conn, w.now, 100)
        chosen = [d.id for d in ready(found, w.now) if rng.random() < 0.7]
        # a lease that is over at once: a worker that died with the delivery
        lease = -1.0 if rng.random() < 0.2 else 60.0
        for claimed in await attempts.claim(conn, chosen, f"t{rng.random()}", lease):
            w.claimed[claimed.id] = claimed


async def op_succeed(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    picked = rng.sample(sorted(w.claimed), min(len(w.claimed), rng.randint(1, 3)))
    successes = [
        Success(i, w.claimed.pop(i).claim_token, w.now, w.now, 200, 1.0, "", HEALTHY) for i in picked
    ]
    if successes:
        async with runtime.db.pool.acquire() as conn:
            await attempts.record_successes(conn, successes)


async def op_fail(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    """A failed attempt as the recorder writes it: retried, or the last one (a dead letter)."""
    if not w.claimed:
        return
    claimed = w.claimed.pop(rng.choice(sorted(w.claimed)))
    async with runtime.db.transaction() as conn:
        await attempts.lock_lane(conn, claimed.id)
        if await attempts.lock_claimed(conn, claimed.id, claimed.claim_token) is None:
            return  # taken over
        if rng.random() < 0.5:
            await attempts.reschedule_delivery(conn, claimed.id, w.now, 500, "boom")
        else:
            await attempts.finish_delivery(conn, claimed.id, DeliveryStatus.DEAD, w.now, 500, "boom")


async def op_hand_back(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    given, w.claimed = list(w.claimed.values()), {}
    if given:
        async with runtime.db.pool.acquire() as conn:
            await attempts.hand_back(conn, given)


async def op_replay(runtime: ServiceRuntime, w: Worker, rng: random.Random) -> None:
    async with runtime.db.transaction() as conn:
        if rng.random() < 0.5:
            await deliveries.replay_failed_since(conn, SHOP_A, rng.choice(ENDPOINTS), AT, w.now)
            return
        finished = await conn.fetch("SELECT id FROM deliveries WHERE status IN ('succeeded', 'dead')")
        if finished:
            await deliveries.replay_delivery(conn, SHOP_A, rng.choice(finished)["id"], w.now)


OPERATIONS = (op_queue, op_queue, op_claim, op_claim, op_succeed, op_fail, op_hand_back, op_replay)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_heads_follow_the_ordering_rule_through_every_operation(
    runtime: ServiceRuntime, seed: int
) -> None:
    rng = random.Random(seed)
    worker = Worker()
    done: set[str] = set()
    seen: set[DeliveryStatus] = set()
    for step in range(250):
        operation = rng.choice(OPERATIONS)
        worker.now += timedelta(seconds=1)
        await operation(runtime, worker, rng)
        done.add(operation.__name__)
        async with runtime.db.pool.acquire() as conn:
            try:
                seen |= await assert_heads_follow_the_rule(conn)
            except AssertionError as failed:
                raise AssertionError(f"step {step}, after {operation.__name__}") from failed
    assert done == {op.__name__ for op in OPERATIONS}
    assert seen == set(DeliveryStatus)  # the walk went everywhere


# -- concurrently ------------------------------------------------------------------------------------


@dataclass
class Trace:
    claimed_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """delivery id -> when each claim of it had returned"""
    finishing_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """delivery id -> when each of its attempts began to be recorded"""
    finished: list[str] = field(default_factory=list)
    """ids in the order their successes or dead letters committed"""


async def producer(runtime: ServiceRuntime, first: int, count: int, seed: int) -> None:
    rng = random.Random(seed)
    n = first
    while n < first + count:
        size = rng.randint(1, 3)
        batch = [
            delivery(i, ENDPOINTS[i % 2], rng.choice(ORDERS)) for i in range(n, min(n + size, first + count))
        ]
        n += size
        async with runtime.db.transaction() as conn:
            await deliveries.insert_deliveries(conn, batch)
        await asyncio.sleep(rng.random() * 0.01)


async def consumer(runtime: ServiceRuntime, trace: Trace, seed: int, stop: asyncio.Event) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        async with runtime.db.pool.acquire() as conn:
            found, _ = await attempts.ready_heads(conn, AT + timedelta(days=1), 10)
            claimed = await attempts.claim(
                conn, [d.id for d in ready(found, AT)], f"c{seed}-{rng.random()}", 60
            )
        for c in claimed:
            trace.claimed_at[c.id].append(time.monotonic())
        await asyncio.sleep(rng.random() * 0.005)
        for c in claimed:
            trace.finishing_at[c.id].append(time.monotonic())
            outcome = rng.random()
            if outcome < 0.7:
                async with runtime.db.pool.acquire() as conn:
                    await attempts.record_successes(
                        conn, [Success(c.id, c.claim_token, AT, AT, 200, 1.0, "", HEALTHY)]
                    )
                trace.finished.append(c.id)
                continue
            async with runtime.db.transaction() as conn:
                await attempts.lock_lane(conn, c.id)
                if outcome < 0.85:
                    await attempts.reschedule_delivery(conn, c.id, AT, 500, "again")
                else:
                    await attempts.finish_delivery(conn, c.id, DeliveryStatus.DEAD, AT, 500, "dead")
            if outcome >= 0.85:
                trace.finished.append(c.id)
        if not claimed:
            await asyncio.sleep(0.002)


async def test_queueing_and_finishing_in_the_same_lanes_at_once_leaves_no_lane_without_its_head(
    runtime: ServiceRuntime,
) -> None:
    trace, stop = Trace(), asyncio.Event()
    consumers = [asyncio.create_task(consumer(runtime, trace, seed, stop)) for seed in (1, 2, 3)]
    try:
        await asyncio.gather(*(producer(runtime, 1000 * p, 80, p) for p in (1, 2, 3)))
        deadline = time.monotonic() + 60
        while len(set(trace.finished)) < 240:
            assert time.monotonic() < deadline, f"stuck: {240 - len(set(trace.finished))} never finished"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*consumers)

    async with runtime.db.pool.acquire() as conn:
        rows = {
            r["id"]: r
            for r in await conn.fetch("SELECT id, endpoint_id, order_key, seq, status FROM deliveries")
        }
        assert await conn.fetchval("SELECT count(*) FROM lanes") == 0, "an emptied lane kept its row"
    assert len(rows) == 240
    assert {r["status"] for r in rows.values()} <= {"succeeded", "dead"}
    assert len(trace.finished) == 240, "a delivery finished twice"
    by_lane: dict[tuple[str, str], list[str]] = defaultdict(list)
    for delivery_id in trace.finished:
        by_lane[(rows[delivery_id]["endpoint_id"], rows[delivery_id]["order_key"])].append(delivery_id)
    for lane, finished in by_lane.items():
        assert finished == sorted(finished, key=lambda i: rows[i]["seq"]), f"{lane} finished out of order"
        attempts_in_lane = sorted(
            (claimed, finishing)
            for i in finished
            for claimed, finishing in zip(trace.claimed_at[i], trace.finishing_at[i], strict=True)
        )
        for (_, finishing), (next_claimed, _) in itertools.pairwise(attempts_in_lane):
            assert next_claimed > finishing, f"{lane}: claimed while another of its deliveries was in flight"
