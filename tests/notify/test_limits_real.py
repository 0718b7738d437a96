"""Per-endpoint rate limit and circuit breaker, odd receiver answers, retention — over the real stack."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runtime.settings import Settings
from schemas import topics
from services.notify.repository import deliveries
from tests.notify.harness import (
    api,
    attempt_rows,
    config,
    create_endpoint,
    delivery_rows,
    manual_clock_at_wall_now,
    order_event,
    running_notify,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


async def test_an_endpoint_rate_limit_paces_its_deliveries(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config(max_in_flight_per_endpoint=8)) as app, api(app) as client:
            await create_endpoint(client, receiver.url(), rate_limit_per_second=5)
            for i in range(15):
                await produce(infra, topics.ORDERS.name, order_event("order.created", f"r-{i}"))

            async def all_arrived() -> bool:
                return len(receiver.requests) == 15

            await eventually(all_arrived, timeout=30)

            async def all_recorded() -> bool:
                return len(await delivery_rows(app, "status = 'succeeded'")) == 15

            await eventually(all_recorded)
    finally:
        await receiver.stop()
    arrivals = sorted(r.at for r in receiver.requests)
    for count, at in enumerate(arrivals, start=1):
        # a burst of 5, then 5 per second: never more than that since the first arrival
        assert count <= 5 + 5 * (at - arrivals[0]) + 1, (count, at - arrivals[0])
    assert arrivals[-1] - arrivals[0] >= 1.5


async def test_the_circuit_breaker_stops_attempts_then_lets_one_trial_through(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()
    answer = Reply(500)

    async def current(request: Received) -> Reply:
        return answer

    receiver = await Receiver(current).start()
    cfg = config(
        breaker_threshold=2,
        breaker_cooldown_seconds=30,
        max_in_flight_per_endpoint=1,
        retry_schedule_seconds=(0, 600, 600),
    )
    try:
        async with running_notify(infra, cfg, clock) as app, api(app) as client:
            endpoint = await create_endpoint(client, receiver.url())
            for i in range(3):
                await produce(infra, topics.ORDERS.name, order_event("order.created", f"b-{i}"))

            async def two_failed() -> bool:
                return len(await delivery_rows(app, "total_attempts = 1")) == 2

            await eventually(two_failed)
            await asyncio.sleep(0.5)  # several worker rounds: the third is due but the breaker is open
            assert len(receiver.requests) == 2
            state = await app.runtime.db.pool.fetchrow(
                "SELECT breaker_failures, breaker_open_until FROM endpoints WHERE id = $1", endpoint["id"]
            )
            assert state is not None
            assert state["breaker_failures"] == 2
            assert state["breaker_open_until"] == clock.now() + timedelta(seconds=30)

            answer = Reply(200)
            clock.advance(timedelta(seconds=30))  # half-open: the one trial succeeds and closes it

            async def trial_done() -> bool:
                return len(await delivery_rows(app, "status = 'succeeded'")) == 1

            await eventually(trial_done)
            clock.advance(timedelta(seconds=600))

            async def all_done() -> bool:
                return len(await delivery_rows(app, "status = 'succeeded'")) == 3

            await eventually(all_done)
            state = await app.runtime.db.pool.fetchrow(
                "SELECT breaker_failures, breaker_open_until, failing_since FROM endpoints WHERE id = $1",
                endpoint["id"],
            )
            assert state is not None
            assert dict(state) == {"breaker_failures": 0, "breaker_open_until": None, "failing_since": None}
    finally:
        await receiver.stop()


async def test_a_binary_answer_is_stored_and_old_deliveries_are_purged(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()

    async def binary(request: Received) -> Reply:
        return Reply(200, b"\x00\xffok")

    receiver = await Receiver(binary).start()
    try:
        async with running_notify(infra, config(), clock) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            await produce(infra, topics.ORDERS.name, order_event("order.created", "bin-1"))

            async def succeeded() -> list[dict[str, object]]:
                return await delivery_rows(app, "status = 'succeeded'")

            [delivery] = await eventually(succeeded)
            [attempt] = await attempt_rows(app, str(delivery["id"]))
            assert attempt["response_body"] == "\ufffd\ufffdok"

            clock.advance(timedelta(days=31))
            purged = await deliveries.purge_finished(app.runtime.db, clock.now() - timedelta(days=30), 100)
            assert purged == 1
            assert await delivery_rows(app) == []
            assert await app.runtime.db.pool.fetchval("SELECT count(*) FROM attempts") == 0
    finally:
        await receiver.stop()
