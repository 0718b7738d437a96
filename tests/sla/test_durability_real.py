"""Restarts with clocks in flight and two instances on one schema: every timer fires exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.v1.sla import SlaMetric
from services.sla import repository as repo
from services.sla.config import SlaConfig
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.clocks import Stage, StageKind
from tests.sla.support import (
    T0,
    all_records,
    kinds,
    outbox_drained,
    running_sla,
    send,
    sla_events,
    ticket_event,
    wait_clocks,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)


async def due_clocks(app: ServiceApp) -> int:
    query = "SELECT count(*) FROM clocks WHERE due_at IS NOT NULL AND metric = 'first_response'"
    return int(await app.runtime.db.pool.fetchval(query))


async def test_restart_with_clocks_in_flight_fires_each_deadline_once(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app:
        await send(infra, topics.TICKETS, *(ticket_event("ticket.created", f"t-{i}", T0) for i in range(5)))
        for i in range(5):
            await wait_clocks(app, f"t-{i}", 2)
        clock.set(T0 + 4 * MIN)  # the warnings fire in the first life
        await eventually(lambda: _stages_done(app, 5))
        await eventually(lambda: outbox_drained(app))

    clock.set(T0 + 30 * MIN)  # breaches and both escalations fall due while the service is down
    async with running_sla(infra, clock) as app:
        await eventually(lambda: _stages_done(app, 20))
        first_life_and_second = await sla_events(infra, app)

    async with running_sla(infra, clock) as app:  # a third life finds nothing left to fire
        clock.set(T0 + 60 * MIN)
        await eventually(lambda: outbox_drained(app))
        assert await due_clocks(app) == 0
        everything = await sla_events(infra, app)

    assert sorted(e.id for e in everything) == sorted(e.id for e in first_life_and_second)
    per_ticket = Counter((e.subject, t) for e, t in zip(everything, kinds(everything), strict=True))
    for i in range(5):
        assert per_ticket[(f"t-{i}", ("sla.warning", "first_response"))] == 1
        assert per_ticket[(f"t-{i}", ("sla.breached", "first_response"))] == 1
        assert per_ticket[(f"t-{i}", ("sla.escalated", "first_response:1"))] == 1
        assert per_ticket[(f"t-{i}", ("sla.escalated", "first_response:2"))] == 1
    assert len(everything) == 20
    lags = [e.data.lag_seconds for e in everything if e.type == "sla.breached"]
    assert lags == [25 * 60.0] * 5  # the breach reports how late it went out: 25 minutes of downtime


async def _stages_done(app: ServiceApp, at_least: int) -> bool:
    done = await app.runtime.db.pool.fetchval(
        "SELECT coalesce(sum(stages_done), 0) FROM clocks WHERE metric = 'first_response'"
    )
    return bool(done >= at_least)


async def test_two_instances_on_one_schema_never_fire_a_timer_twice(infra: Settings) -> None:
    clock = ManualClock(T0)
    tickets = [f"t-{i}" for i in range(60)]
    async with running_sla(infra, clock) as one, running_sla(infra, clock) as two:
        await send(infra, topics.TICKETS, *(ticket_event("ticket.created", t, T0) for t in tickets))

        async def all_started() -> bool:
            return bool(await one.runtime.db.pool.fetchval("SELECT count(*) FROM clocks") == 120)

        await eventually(all_started, timeout=60)
        # Each step makes every ticket's next stage due at once, for both sweeps to race over.
        for minutes, expected in ((4, 60), (5, 180), (10, 240)):
            clock.set(T0 + minutes * MIN)
            await eventually(lambda n=expected: _stages_done(one, n), timeout=30)  # type: ignore[misc]
        await eventually(lambda: outbox_drained(one))
        await eventually(lambda: outbox_drained(two))
        found = await all_records(infra)

    fired = Counter((e.data.clock_id, e.type, getattr(e.data, "level", 0)) for e in found)
    assert len(found) == 240
    assert set(fired.values()) == {1}
    assert len({e.data.clock_id for e in found}) == 60


async def test_a_timer_that_cannot_fire_is_deferred_alone_and_the_rest_go_out(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app:
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-good", T0))
        await wait_clocks(app, "t-good", 2)
        # a corrupt row: a running clock without a breach stage cannot be fired
        broken = clocks.start(
            "broken",
            SlaMetric.FIRST_RESPONSE,
            5 * MIN,
            False,
            (Stage(StageKind.WARNING, 0.8),),
            T0,
            CALENDAR_TIME,
        )
        record = repo.ClockRecord(broken, "shop-a", "t-broken", "chat", "chat", "other", "normal")
        async with app.runtime.db.transaction() as conn:
            await repo.insert_clocks(conn, [record])

        clock.set(T0 + 5 * MIN)

        async def good_breached() -> bool:
            outcome = await app.runtime.db.pool.fetchval(
                "SELECT outcome FROM clocks WHERE ticket_id = 't-good' AND metric = 'first_response'"
            )
            return bool(outcome == "breached")

        await eventually(good_breached)
        assert (
            await app.runtime.db.pool.fetchval("SELECT due_at FROM clocks WHERE id = 'broken'")
            == T0 + 5 * MIN + SlaConfig().timer_retry
        )
        assert {e.subject for e in await sla_events(infra, app)} == {"t-good"}
        failures = REGISTRY.get_sample_value("careloop_sla_timer_failures_total", {"timer": "clock"})
        assert failures is not None
        assert failures >= 1
