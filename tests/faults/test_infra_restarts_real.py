"""The Kafka broker, then PostgreSQL, stopped and started under running services (private
instances: the shared ones stay up for everybody else). Afterwards nothing is lost or doubled and
every consumer has caught up."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from demo.journeys import shop_day
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from services.notify.handlers import webhook_id_for
from tests.faults.support import (
    NOTIFY_ENV,
    Producer,
    ServiceProcess,
    events_on,
    service_processes,
    wait_for_zero_lag,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.private_infra import PrivateKafka, PrivatePostgres
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


class CountingReceiver(Receiver):
    def __init__(self) -> None:
        super().__init__(self._ok)
        self.types: dict[str, str] = {}
        """webhook-id -> event type of the effect."""

    async def _ok(self, request: Received) -> Reply:
        self.apply_once(request)
        self.types[request.webhook_id] = request.json()["type"]
        return Reply(200)


def journeys(seed: int, orders: int) -> list[CloudEvent[Any]]:
    start = datetime.now(UTC) - timedelta(days=1)
    return [s.event for s in shop_day(random.Random(seed), SHOP_A, start, orders)]


async def subscribe(notify: ServiceProcess, receiver: Receiver) -> None:
    async with httpx.AsyncClient(base_url=notify.url) as client:
        created = await client.post("/v1/endpoints", json={"url": receiver.url("/all")}, headers=auth(KEY_A))
        assert created.status_code == 201, created.text


async def send_all(settings: Settings, topic: str, events: Iterable[CloudEvent[Any]]) -> None:
    async with Producer(settings) as producer:
        for event in events:
            await producer.send(topic, event)


async def post_contacts(intake: ServiceProcess, first: int, count: int) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=intake.url, timeout=10.0) as client:
        for n in range(first, first + count):
            response = await client.post(
                "/v1/contacts",
                json={"channel": "email", "customer_email": f"c{n}@example.com", "body": f"question {n}"},
                headers=auth(KEY_A),
            )
            statuses.append(response.status_code)
    return statuses


async def tickets_once_each(settings: Settings, expected: int) -> dict[str, str]:
    """ticket id -> the one event id of its ticket.created (a second distinct id would be a double)."""
    created: dict[str, set[str]] = defaultdict(set)

    async def all_created() -> bool:
        created.clear()
        for event in await events_on(settings, topics.TICKETS.name, at_least=2 * expected, timeout=5):
            if event.type == "ticket.created":
                created[event.data.ticket_id].add(event.id)
        return len(created) >= expected

    await eventually(all_created, timeout=60, interval=0.5)
    assert all(len(ids) == 1 for ids in created.values()), created
    return {ticket: ids.pop() for ticket, ids in created.items()}


async def test_kafka_stopped_and_started_under_intake_and_notify(
    settings_on_private_kafka: Settings, private_kafka: PrivateKafka
) -> None:
    settings = settings_on_private_kafka
    receiver = CountingReceiver()
    await receiver.start()
    before, after = journeys(21, 6), journeys(22, 6)
    try:
        async with service_processes(settings, ["intake", "notify"], NOTIFY_ENV) as services:
            intake, notify = services["intake"], services["notify"]
            await subscribe(notify, receiver)
            await send_all(settings, topics.ORDERS.name, before)
            await eventually(lambda: _has(receiver, before), timeout=30)

            private_kafka.ctl("stop")
            # Kafka is down: contacts are still accepted (state + outbox in Postgres) ...
            assert await post_contacts(intake, 0, 8) == [201] * 8
            async with httpx.AsyncClient(base_url=intake.url, timeout=10.0) as client:
                # ... and readiness says what is missing, so a load balancer can tell.

                async def says_kafka_is_down() -> bool:
                    ready = await client.get("/health/ready")
                    return ready.status_code == 503 and ready.json()["checks"]["kafka"] is False

                await eventually(says_kafka_is_down, timeout=20, interval=0.5)
            await asyncio.sleep(2.0)
            private_kafka.ctl("start")

            await send_all(settings, topics.ORDERS.name, after)
            assert await post_contacts(intake, 8, 4) == [201] * 4
            tickets = await tickets_once_each(settings, 12)
            assert len(tickets) == 12
            wanted = {webhook_id_for(e.id) for e in before + after} | {
                webhook_id_for(event_id) for event_id in tickets.values()
            }
            await eventually(lambda: _has_ids(receiver, wanted), timeout=60)
            await wait_for_zero_lag(intake, [topics.ORDERS.name, topics.CONTACTS.name])
            await wait_for_zero_lag(notify, [topics.ORDERS.name, topics.TICKETS.name])
    finally:
        await receiver.stop()
    order_and_ticket = {w for w, t in receiver.types.items() if t != "order.promise_breached"}
    assert order_and_ticket == wanted
    assert set(receiver.effects.values()) == {1}


async def _has(receiver: Receiver, events: list[CloudEvent[Any]]) -> bool:
    return await _has_ids(receiver, {webhook_id_for(e.id) for e in events})


async def _has_ids(receiver: Receiver, wanted: set[str]) -> bool:
    return set(receiver.effects) >= wanted


async def test_postgres_stopped_and_started_under_intake_and_notify(
    settings_on_private_postgres: Settings, private_postgres: PrivatePostgres
) -> None:
    settings = settings_on_private_postgres
    receiver = CountingReceiver()
    await receiver.start()
    before, during = journeys(31, 6), journeys(32, 6)
    try:
        async with service_processes(settings, ["intake", "notify"], NOTIFY_ENV) as services:
            intake, notify = services["intake"], services["notify"]
            await subscribe(notify, receiver)
            await send_all(settings, topics.ORDERS.name, before)
            await post_contacts(intake, 0, 4)
            await eventually(lambda: _has(receiver, before), timeout=30)

            private_postgres.ctl("stop")
            # Events keep arriving while Postgres is away: consumers must NACK and come back to them.
            await send_all(settings, topics.ORDERS.name, during)
            async with httpx.AsyncClient(base_url=intake.url) as client:
                refused = await client.post(
                    "/v1/contacts",
                    json={"channel": "chat", "customer_handle": "h", "body": "while the database is down"},
                    headers=auth(KEY_A),
                )
                assert refused.status_code >= 500  # refused, not silently accepted and lost
            await asyncio.sleep(2.0)
            private_postgres.ctl("start")

            assert await post_contacts(intake, 4, 4) == [201] * 4
            tickets = await tickets_once_each(settings, 8)
            assert len(tickets) == 8
            wanted = {webhook_id_for(e.id) for e in before + during} | {
                webhook_id_for(event_id) for event_id in tickets.values()
            }
            await eventually(lambda: _has_ids(receiver, wanted), timeout=60)
            await wait_for_zero_lag(intake, [topics.ORDERS.name])
            await wait_for_zero_lag(notify, [topics.ORDERS.name, topics.TICKETS.name])
            conn = await service_connection(settings, "intake")
            try:
                orders = await conn.fetchval("SELECT count(*) FROM orders")
            finally:
                await conn.close()
    finally:
        await receiver.stop()
    assert orders == len({e.subject for e in before + during})
    order_and_ticket = {w for w, t in receiver.types.items() if t != "order.promise_breached"}
    assert order_and_ticket == wanted
    assert set(receiver.effects.values()) == {1}
