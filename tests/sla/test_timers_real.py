"""The timer sweep's SQL and drain on the real Postgres: the claim's edges, SKIP LOCKED between two
claimers, the COPY bulk load, a burst bigger than a batch fired in one run, and promises whose event
cannot be built deferred with the reason instead of claimed again and again."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from runtime.clock import ManualClock
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from schemas.v1.sla import PromiseKind, SlaMetric
from services.sla import repository as repo
from services.sla.bootstrap import MIGRATIONS
from services.sla.config import SlaConfig
from services.sla.context import Context
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.clocks import Stage, StageKind
from services.sla.domain.policies import DEFAULT_POLICIES
from services.sla.domain.promises import PromiseRecord, PromiseStatus
from services.sla.sweeps import TimerSweep
from tests.sla.support import T0, customer
from tests.support.batches import service_storage

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)
TARGET = 5 * MIN
RETRY_AFTER = SlaConfig().timer_retry


def chat_clocks(count: int, started: list[timedelta] | None = None) -> list[repo.ClockRecord]:
    """Chat first-response clocks (calendar time, 5 min), the i-th started at T0 + started[i]."""
    stages = DEFAULT_POLICIES.policies[0].stages()
    offsets = started or [timedelta(0)] * count
    return [
        repo.ClockRecord(
            clocks.start(
                f"c-{i}", SlaMetric.FIRST_RESPONSE, TARGET, False, stages, T0 + offsets[i], CALENDAR_TIME
            ),
            "shop-a",
            f"t-{i}",
            "chat",
            "chat",
            "other",
            "normal",
        )
        for i in range(count)
    ]


def promise(promise_id: str) -> PromiseRecord:
    return PromiseRecord(
        promise_id,
        "shop-a",
        f"order-{promise_id}",
        PromiseKind.SHIP_BY,
        customer().model_dump(mode="json"),
        T0,
        PromiseStatus.RUNNING,
    )


async def test_the_claim_takes_clocks_at_their_instant_and_promises_only_after_it(infra: Settings) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        records = chat_clocks(3, [timedelta(0), MIN, 2 * MIN])
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, records)
            await repo.open_promise(conn, promise("p-1"))
        warning = T0 + MIN + TARGET * 0.8  # the second clock's first stage, to the microsecond
        async with runtime.db.transaction() as conn:
            claimed = await repo.claim_due_clocks(conn, warning, 10)
            assert [r.clock.id for r in claimed] == ["c-0", "c-1"]  # earliest first
            assert [r.clock for r in claimed] == [r.clock for r in records[:2]]  # stages survive the text
            assert await repo.claim_due_promises(conn, T0, 10) == []
            assert [
                p.id for p in await repo.claim_due_promises(conn, T0 + timedelta(microseconds=1), 10)
            ] == ["p-1"]


async def test_two_claimers_get_disjoint_rows_without_waiting(infra: Settings) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, chat_clocks(5))
        now = T0 + TARGET
        async with runtime.db.transaction() as one, runtime.db.transaction() as two:
            first = await repo.claim_due_clocks(one, now, 3)
            # lock_timeout would fail this claim if it waited on the rows `one` holds
            await two.execute("SET LOCAL lock_timeout = '1s'")
            second = await repo.claim_due_clocks(two, now, 5)
        assert len(first) == 3
        assert len(second) == 2
        assert {r.clock.id for r in first} | {r.clock.id for r in second} == {f"c-{i}" for i in range(5)}


async def test_bulk_load_round_trips_and_refuses_an_existing_id(infra: Settings) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        records = chat_clocks(3)
        async with runtime.db.pool.acquire() as conn:
            await repo.load_clocks(conn, records)
            assert [
                r for i in range(3) for r in await repo.ticket_clocks(conn, "shop-a", f"t-{i}")
            ] == records
            fresh = chat_clocks(5)[3:]
            with pytest.raises(asyncpg.UniqueViolationError):
                await repo.load_clocks(conn, [*fresh, records[0]])
            assert await conn.fetchval("SELECT count(*) FROM clocks") == 3  # nothing of that load stays


async def test_a_burst_bigger_than_a_batch_is_fired_in_one_run(infra: Settings) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        records = chat_clocks(25)
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, records)
        clock = ManualClock(T0 + TARGET)
        # One worker taking one clock per batch: only draining until a batch comes back short (not
        # a fixed number of batches per run, then a sleep) fires all 25 in a single run.
        config = SlaConfig(sweep_batch=1, sweep_workers=1)
        ctx = Context(runtime.shops, clock.now, runtime.topic(topics.SLA), config)
        await TimerSweep(runtime.db, ctx).run()
        pool = runtime.db.pool
        assert await pool.fetchval("SELECT count(*) FROM clocks WHERE outcome = 'breached'") == 25
        payloads = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
        events = [decode_event(bytes(r["payload"])) for r in payloads]
        # warning, breach and the first escalation of each clock, each clock's in stage order
        assert len(events) == 75
        for i in range(25):
            mine = [e.type for e in events if e.subject == f"t-{i}"]
            assert mine == ["sla.warning", "sla.breached", "sla.escalated"]
        assert {e.data.deadline for e in events} == {T0 + TARGET}


class CountingSweep(TimerSweep):
    """The real sweep, counting the promise batches it claims."""

    promise_batches = 0

    async def fire_promises(self) -> int:
        self.promise_batches += 1
        return await super().fire_promises()


def promise_failures() -> float:
    return REGISTRY.get_sample_value("careloop_sla_timer_failures_total", {"timer": "promise"}) or 0.0


async def test_unbuildable_promises_are_deferred_with_the_reason_and_the_drain_moves_on(
    infra: Settings,
) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        pool = runtime.db.pool
        good = [promise(f"good-{i}") for i in range(5)]
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, chat_clocks(3))
            for item in good:
                await repo.open_promise(conn, item)
            # A full batch of promises whose customer no longer validates (no id), due before the good
            # ones, so the claim, earliest first, meets them first.
            await conn.execute(
                "INSERT INTO promises (id, shop_id, order_id, kind, customer, promised_at, status)"
                " SELECT 'bad-' || i, 'shop-a', 'order-bad-' || i, 'ship_by', '{}', $1, 'running'"
                " FROM generate_series(1, 200) AS i",
                T0 - MIN,
            )
        now = T0 + TARGET
        clock = ManualClock(now)
        ctx = Context(runtime.shops, clock.now, runtime.topic(topics.SLA), SlaConfig())
        sweep = CountingSweep(runtime.db, ctx)  # the service's batch size: 200 bad ones fill a batch
        failures = promise_failures()

        # Before the fix this run never returned: the 200 came back in every claim.
        await asyncio.wait_for(sweep.run(), timeout=120)

        # the bad batch, then the good ones (a short batch: the drain stops)
        assert sweep.promise_batches == 2
        assert promise_failures() - failures == 200
        bad = await pool.fetch(
            "SELECT status, promised_at, retry_at, failure FROM promises WHERE id LIKE 'bad-%'"
        )
        assert len(bad) == 200
        assert {(r["status"], r["promised_at"], r["retry_at"]) for r in bad} == {
            ("running", T0 - MIN, now + RETRY_AFTER)
        }
        assert {r["failure"] for r in bad} == {"invalid Customer: id: Field required"}
        assert await pool.fetchval("SELECT count(*) FROM promises WHERE status = 'breached'") == 5
        assert await pool.fetchval("SELECT count(*) FROM clocks WHERE outcome = 'breached'") == 3
        events = [decode_event(bytes(r["payload"])) for r in await pool.fetch("SELECT payload FROM outbox")]
        breaches = [e for e in events if e.type == "order.promise_breached"]
        assert sorted(e.data.order_id for e in breaches) == sorted(p.order_id for p in good)
        assert len([e for e in events if e.type == "sla.breached"]) == 3

        # Until the retry, a run claims none of them.
        clock.set(now + RETRY_AFTER)
        await asyncio.wait_for(sweep.run(), timeout=120)
        assert sweep.promise_batches == 3
        assert promise_failures() - failures == 200

        # After it: the half that was repaired fires with its own promised instant, the rest waits again.
        await pool.execute(
            "UPDATE promises SET customer = $1 WHERE id LIKE 'bad-%' AND split_part(id, '-', 2)::int % 2 = 0",
            customer().model_dump(mode="json"),
        )
        retried = now + RETRY_AFTER + timedelta(microseconds=1)
        clock.set(retried)
        await asyncio.wait_for(sweep.run(), timeout=120)
        assert promise_failures() - failures == 300
        rows = await pool.fetch("SELECT status, retry_at FROM promises WHERE id LIKE 'bad-%'")
        assert Counter((r["status"], r["retry_at"]) for r in rows) == {
            ("breached", now + RETRY_AFTER): 100,
            ("running", retried + RETRY_AFTER): 100,
        }
        payloads = await pool.fetch("SELECT payload FROM outbox")
        late = [decode_event(bytes(r["payload"])) for r in payloads]
        late = [
            e for e in late if e.type == "order.promise_breached" and e.data.order_id.startswith("order-bad-")
        ]
        assert len(late) == 100
        assert {e.data.promised_at for e in late} == {T0 - MIN}


async def test_a_deferred_promise_moved_later_waits_for_its_new_instant(infra: Settings) -> None:
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        async with runtime.db.transaction() as conn:
            await repo.open_promise(conn, promise("p-1"))
            await repo.defer_promises(conn, [("p-1", "a reason")], T0 + MIN)
            # an order.delayed moving it to a later instant (open_promise is what its handler writes)
            await repo.open_promise(conn, replace(promise("p-1"), promised_at=T0 + TARGET))
        async with runtime.db.transaction() as conn:
            assert await repo.claim_due_promises(conn, T0 + MIN + timedelta(microseconds=1), 10) == []
            claimed = await repo.claim_due_promises(conn, T0 + TARGET + timedelta(microseconds=1), 10)
            assert [(p.id, p.promised_at) for p in claimed] == [("p-1", T0 + TARGET)]


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_batch_whose_commit_fails_counts_nothing_and_its_retry_counts_once(infra: Settings) -> None:
    breaches = (
        "careloop_sla_breaches_total",
        {"shop": "shop-a", "metric": "first_response", "policy": "chat", "channel": "chat"},
    )
    failures = ("careloop_sla_timer_failures_total", {"timer": "clock"})
    async with service_storage(infra, "sla", MIGRATIONS) as runtime:
        # a corrupt clock (no breach stage) fails on its own inside the batch, beside three good ones
        broken = clocks.start(
            "broken",
            SlaMetric.FIRST_RESPONSE,
            TARGET,
            False,
            (Stage(StageKind.WARNING, 0.8),),
            T0,
            CALENDAR_TIME,
        )
        async with runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, chat_clocks(3))
            await repo.insert_clocks(
                conn, [repo.ClockRecord(broken, "shop-a", "t-x", "chat", "chat", "other", "normal")]
            )
        # Every statement of the batch goes through; its commit is refused.
        await runtime.db.pool.execute(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;"
            " CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON clocks"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
        clock = ManualClock(T0 + TARGET)
        sweep = TimerSweep(
            runtime.db, Context(runtime.shops, clock.now, runtime.topic(topics.SLA), SlaConfig())
        )
        before = sample(*breaches), sample(*failures)

        with pytest.raises(asyncpg.RaiseError, match="commit refused"):
            await sweep.fire_clocks()
        assert (sample(*breaches), sample(*failures)) == before
        assert await runtime.db.pool.fetchval("SELECT count(*) FROM outbox") == 0

        await runtime.db.pool.execute("DROP TRIGGER refuse_commit ON clocks")
        assert await sweep.fire_clocks() == 4
        assert (sample(*breaches), sample(*failures)) == (before[0] + 3, before[1] + 1)
