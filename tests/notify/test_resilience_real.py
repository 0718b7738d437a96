"""Ordering under concurrency, isolation from a dead endpoint, and crashes mid-delivery."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import encode_event
from tests.notify.harness import (
    STEPS,
    api,
    config,
    create_endpoint,
    delivery_rows,
    order_event,
    running_notify,
    start_notify_process,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce
from tests.support.net import free_port
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


async def test_steps_of_one_order_arrive_in_order_while_orders_run_concurrently(infra: Settings) -> None:
    chance = random.Random(7)
    delivered: dict[str, set[int]] = defaultdict(set)  # order -> steps answered 2xx so far
    overtakes: list[str] = []
    statuses: list[int] = []
    attempts: Counter[str] = Counter()
    in_flight = 0
    most_in_flight = 0

    async def flaky(request: Received) -> Reply:
        nonlocal in_flight, most_in_flight
        payload = request.json()
        order_id, step = payload["data"]["order_id"], STEPS.index(payload["type"])
        missing = set(range(step)) - delivered[order_id]
        if missing:  # checked on arrival: an earlier step of this order has not been acknowledged
            overtakes.append(f"{order_id} step {step} arrived before steps {sorted(missing)}")
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            await asyncio.sleep(chance.uniform(0.0, 0.03))
            first_try = attempts[request.webhook_id] == 0
            attempts[request.webhook_id] += 1
            # every even step fails its first try, so later steps are queued while it is retried
            status = 500 if (first_try and step % 2 == 0) or chance.random() < 0.2 else 200
            statuses.append(status)
            if status == 200:
                delivered[order_id].add(step)
                receiver.apply_once(request)
            return Reply(status)
        finally:
            in_flight -= 1

    receiver = await Receiver(flaky).start()
    cfg = config(
        retry_schedule_seconds=(0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1),
        max_in_flight_per_endpoint=8,
        breaker_threshold=1000,
    )
    orders = [f"ord-{i}" for i in range(6)]
    try:
        async with running_notify(infra, cfg) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            # one burst: every step of every order is queued before the first retry is due
            await produce_burst(infra, [order_event(step, o) for step in STEPS for o in orders])

            async def all_effects() -> bool:
                return len(receiver.effects) == len(orders) * len(STEPS)

            await eventually(all_effects, timeout=60)

            async def all_recorded() -> bool:  # the receiver applies an effect just before answering
                return len(await delivery_rows(app, "status = 'succeeded'")) == len(orders) * len(STEPS)

            await eventually(all_recorded)
    finally:
        await receiver.stop()

    assert overtakes == []
    assert 500 in statuses  # retries really happened
    assert most_in_flight > 1  # and different orders really were in flight together


async def produce_burst(settings: Settings, events: list[CloudEvent[Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = settings.topic(topics.ORDERS.name)
        sent = [await producer.send(topic, encode_event(e), key=(e.subject or e.id).encode()) for e in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(infra: Settings) -> None:
    async def hang(request: Received) -> Reply:
        return Reply(hang=True)

    dead = await Receiver(hang).start()
    healthy = await Receiver().start()
    cfg = config(timeout_seconds=15.0, max_in_flight_per_endpoint=4)
    try:
        async with running_notify(infra, cfg) as app, api(app) as client:
            await create_endpoint(client, dead.url())
            await create_endpoint(client, healthy.url())
            started = time.monotonic()
            for i in range(20):
                await produce(infra, topics.ORDERS.name, order_event("order.created", f"o-{i}"))

            async def all_healthy() -> bool:
                return len(healthy.requests) == 20

            await eventually(all_healthy, timeout=14)
            elapsed = time.monotonic() - started
            assert elapsed < 15  # had they waited behind the hanging attempts, not before their 15 s timeout

            async def dead_slots_taken() -> bool:
                return len(dead.requests) >= 4

            await eventually(dead_slots_taken)
            assert len(dead.requests) == 4  # its concurrency limit: the rest wait their turn

            async def healthy_recorded() -> bool:
                return len(await delivery_rows(app, "status = 'succeeded'")) == 20

            await eventually(healthy_recorded)
    finally:
        await dead.stop()
        await healthy.stop()


def _answer_second_time(receiver: Receiver) -> Any:
    """The first copy of each message is applied, then its answer is lost (we crash meanwhile)."""

    async def behaviour(request: Received) -> Reply:
        first = request.webhook_id not in receiver.effects
        receiver.apply_once(request)
        return Reply(hang=True) if first else Reply(200)

    return behaviour


async def test_a_stop_mid_delivery_resends_with_the_same_webhook_id_and_one_effect(infra: Settings) -> None:
    receiver = Receiver()
    receiver.behaviour = _answer_second_time(receiver)
    await receiver.start()
    try:
        async with running_notify(infra, config(timeout_seconds=30.0)) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            for i in range(3):
                await produce(infra, topics.ORDERS.name, order_event("order.created", f"o-{i}"))
            await eventually(lambda: _seen(receiver, 3))
        # stopped while all three were in flight; the next life sends them again
        async with running_notify(infra, config(timeout_seconds=30.0)) as app:
            await eventually(lambda: _succeeded(app, 3))
        _assert_once_each_sent_twice(receiver, 3)
    finally:
        await receiver.stop()


async def _seen(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _succeeded(app: Any, n: int) -> bool:
    return len(await delivery_rows(app, "status = 'succeeded'")) == n


def _assert_once_each_sent_twice(receiver: Receiver, n: int) -> None:
    ids = [r.webhook_id for r in receiver.requests]
    assert len(set(ids)) == n
    assert all(ids.count(i) == 2 for i in set(ids)), ids
    assert dict(receiver.effects) == dict.fromkeys(set(ids), 1)


async def test_sigkill_mid_delivery_then_restart_has_no_duplicate_effects(infra: Settings) -> None:
    await ensure_service_schema(infra.for_service("notify"))
    receiver = Receiver()
    receiver.behaviour = _answer_second_time(receiver)
    await receiver.start()
    port = free_port()
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryFile() as log_file:
        try:
            processes.append(await start_notify_process(infra, port, log_file))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                await create_endpoint(client, receiver.url())
            for i in range(3):
                await produce(infra, topics.ORDERS.name, order_event("order.created", f"k-{i}"))
            await eventually(lambda: _seen(receiver, 3), timeout=30)

            processes[0].send_signal(signal.SIGKILL)
            await processes[0].wait()
            conn = await service_connection(infra, "notify")
            try:
                states = await conn.fetch("SELECT status FROM deliveries")
                assert [r["status"] for r in states] == ["delivering"] * 3  # killed with all in flight

                processes.append(await start_notify_process(infra, port, log_file))

                async def all_succeeded() -> bool:
                    rows = await conn.fetch("SELECT status FROM deliveries")
                    return [r["status"] for r in rows] == ["succeeded"] * 3

                await eventually(all_succeeded, timeout=30)
            finally:
                await conn.close()
            _assert_once_each_sent_twice(receiver, 3)
        except BaseException:
            log_file.seek(0)
            sys.stderr.write(log_file.read().decode(errors="replace")[-5000:])
            raise
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    await process.wait()
            await receiver.stop()
