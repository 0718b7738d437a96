"""Two instances of a service side by side, as real processes on the same topics and schema: they
share the work (one consumer group: Kafka splits the partitions; the delivery queue and the timers
are claimed with SKIP LOCKED) and nothing is done twice.

- notify: order events stream in while two processes deliver them to endpoints whose receiver
  counts every request by webhook-id: each (endpoint, event) arrives exactly once, the steps of an
  order arrive in order at each endpoint, and both processes consumed events and delivered some.
- sla: orders and tickets whose deadlines have all passed stream in while two processes sweep:
  every due SLA event goes out exactly once, and both processes consumed and fired timers.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from services.notify.handlers import webhook_id_for
from tests.faults.support import (
    NOTIFY_ENV,
    Producer,
    ServiceProcess,
    events_on,
    sla_settled,
    wait_for_zero_lag,
)
from tests.faults.test_sigkill_real import order_paid, sla_effect_key, ticket_created
from tests.notify.harness import STEPS, order_event
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


@asynccontextmanager
async def two_instances(
    settings: Settings, name: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two processes of one service (each on its own port), the second started once the first is up,
    then given time to join the consumer groups (a rebalance) before anything is produced."""
    await ensure_service_schema(settings.for_service(name))
    first, second = ServiceProcess(name, settings, env), ServiceProcess(name, settings, env)
    try:
        first.start()
        await first.wait_ready()
        second.start()
        await second.wait_ready()
        await asyncio.sleep(5)  # the group's rebalance hands the second its partitions
        yield first, second
    finally:
        first.stop()
        second.stop()


def counter_sum(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items()))


# -- notify --------------------------------------------------------------------------------------------

SUBSCRIPTIONS = {"/all": ["order.*"], "/late": ["order.shipped", "order.delivered"], "/paid": ["order.paid"]}
ORDERS = 60


def streamed_orders(rng: random.Random) -> list[CloudEvent[Any]]:
    """Every order's four steps in order, the orders interleaved at random."""
    pending = {f"so-{n}": list(STEPS) for n in range(ORDERS)}
    events = []
    while pending:
        order_id = rng.choice(sorted(pending))
        events.append(order_event(pending[order_id].pop(0), order_id))
        if not pending[order_id]:
            del pending[order_id]
    return events


class OrderedReceiver(Receiver):
    """Answers 200 after a few milliseconds (so one process's slots fill up) and keeps, per endpoint,
    the webhooks in the order they arrived."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.arrived: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        """path -> (webhook-id, order id, event type) in arrival order"""

    async def _answer(self, request: Received) -> Reply:
        payload = request.json()
        self.arrived[request.path].append((request.webhook_id, payload["data"]["order_id"], payload["type"]))
        await asyncio.sleep(0.01)
        return Reply(204, b"")


async def test_two_notify_processes_deliver_every_webhook_once_in_order_and_both_work(
    infra: Settings,
) -> None:
    receiver = OrderedReceiver()
    await receiver.start()
    events = streamed_orders(random.Random(19))
    expected = {
        path: [(webhook_id_for(e.id), e.data.order_id, e.type) for e in events if match(patterns, e.type)]
        for path, patterns in SUBSCRIPTIONS.items()
    }
    env = {**NOTIFY_ENV, "NOTIFY_TIMEOUT_SECONDS": "10", "NOTIFY_MAX_IN_FLIGHT_PER_ENDPOINT": "2"}
    try:
        async with two_instances(infra, "notify", env) as (first, second):
            async with httpx.AsyncClient(base_url=first.url) as client:
                for path, patterns in SUBSCRIPTIONS.items():
                    created = await client.post(
                        "/v1/endpoints",
                        json={"url": receiver.url(path), "event_types": patterns},
                        headers=auth(KEY_A),
                    )
                    assert created.status_code == 201, created.text
            async with Producer(infra) as producer:
                for n, event in enumerate(events):
                    await producer.send(topics.ORDERS.name, event)
                    if n % 20 == 19:
                        await asyncio.sleep(0.05)

            async def all_arrived() -> bool:
                return all(len(receiver.arrived[p]) >= len(want) for p, want in expected.items())

            await eventually(all_arrived, timeout=60, interval=0.2)
            await wait_for_zero_lag(first, [topics.ORDERS.name])
            await asyncio.sleep(1)  # anything sent twice would arrive meanwhile
            conn = await service_connection(infra, "notify")
            try:
                statuses = Counter(r["status"] for r in await conn.fetch("SELECT status FROM deliveries"))
                attempts = await conn.fetchval("SELECT count(*) FROM attempts")
            finally:
                await conn.close()
            metrics = [await first.metrics(), await second.metrics()]
    finally:
        await receiver.stop()

    total = sum(len(want) for want in expected.values())
    for path, want in expected.items():
        arrived = receiver.arrived[path]
        sent = Counter(webhook_id for webhook_id, _, _ in arrived)
        assert set(sent) == {webhook_id for webhook_id, _, _ in want}, path
        assert set(sent.values()) == {1}, f"{path}: a webhook was sent twice"
        for order_id in {o for _, o, _ in want}:
            got = [t for _, o, t in arrived if o == order_id]
            assert got == [t for _, o, t in want if o == order_id], f"{path}, {order_id}: out of order"
    assert statuses == {"succeeded": total}
    assert attempts == total
    for samples in metrics:
        assert counter_sum(samples, "careloop_events_consumed_total", consumer="notify-orders") > 0
        assert counter_sum(samples, "careloop_notify_attempts_total", outcome="success") > 0
    delivered = sum(counter_sum(s, "careloop_notify_attempts_total", outcome="success") for s in metrics)
    assert delivered == total


def match(patterns: list[str], event_type: str) -> bool:
    return event_type in patterns or f"{event_type.split('.')[0]}.*" in patterns


# -- sla -----------------------------------------------------------------------------------------------


async def test_two_sla_processes_emit_every_due_sla_event_once_and_both_work(infra: Settings) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=10)  # every clock and promise is already past due
    orders = [f"ord-{n}" for n in range(40)]
    tickets = [f"tkt-{n}" for n in range(40)]
    async with two_instances(infra, "sla") as (first, second):
        async with Producer(infra) as producer:
            for n, (order_id, ticket_id) in enumerate(zip(orders, tickets, strict=True)):
                await producer.send(
                    topics.ORDERS.name, order_paid(order_id, long_ago, long_ago + timedelta(days=1))
                )
                await producer.send(topics.TICKETS.name, ticket_created(ticket_id, long_ago))
                if n % 5 == 4:
                    await asyncio.sleep(0.05)
        conn = await service_connection(infra, "sla")
        try:
            await eventually(sla_settled(conn, len(tickets)), timeout=60, interval=0.3)
            await wait_for_zero_lag(first, [topics.ORDERS.name, topics.TICKETS.name])
            clocks = await conn.fetch("SELECT id, outcome, stages_done FROM clocks")
        finally:
            await conn.close()
        metrics = [await first.metrics(), await second.metrics()]

    breached = {r["id"] for r in clocks if r["outcome"] == "breached"}
    stages = sum(r["stages_done"] for r in clocks)
    emitted = await events_on(infra, topics.SLA.name, at_least=len(orders) + stages)
    distinct: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for event in emitted:
        distinct[sla_effect_key(event)].add(event.id)
    assert {k: ids for k, ids in distinct.items() if len(ids) > 1} == {}, "an SLA event went out twice"
    assert {k[1] for k in distinct if k[0] == "order.promise_breached"} == set(orders)
    assert {k[1] for k in distinct if k[0] == "sla.breached"} == breached
    assert breached, "the scenario must breach clocks to prove anything"
    fired = [counter_sum(s, "careloop_sla_timer_lag_seconds_count") for s in metrics]
    for samples, by_this_one in zip(metrics, fired, strict=True):
        consumed = counter_sum(samples, "careloop_events_consumed_total", consumer="sla-tickets")
        consumed += counter_sum(samples, "careloop_events_consumed_total", consumer="sla-orders")
        assert consumed > 0, "a process consumed nothing"
        assert by_this_one > 0, "a process fired no timer"
    assert sum(fired) == len(orders) + stages, "a timer fired twice (or not at all)"
