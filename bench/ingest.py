"""Order-event ingest: how fast each service consumes, applies and commits a pre-filled orders.events,
against a bare aiokafka consumer reading (and committing) the same topic.

    .venv/bin/python -m bench.ingest --events 20000 --window 30

Realistic events come from demo/journeys.py (one shop's day of order journeys, due times from now on so
no SLA promise is already broken). Generating a million journeys through pydantic would take minutes,
so a base day of journeys is encoded once and copied with fresh event ids and order/return/repair
numbers: every event is distinct, every order's steps keep their order on their partition.

A service's rate is committed offsets over time, sampled once a second from outside (the admin API, as
`runtime.lag` does), from its first commit until it reaches the end of the topic or the window closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bench.common import (
    DEMO_SHOP,
    SERVICES,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    provision,
    service_env,
    summarize,
)
from demo.journeys import shop_day
from runtime.provision import drop_service_schema, ensure_service_schema
from runtime.settings import Settings
from schemas import topics
from schemas.registry import encode_event

BASE_ORDERS = 4000
"""Journeys generated through the schemas; copies of them fill the rest of the topic."""
NUMBERED_ID = re.compile(rb"(demo-shop-|ret-|rep-)(\d{7})")
SAMPLE_SECONDS = 0.25
ORDERS_CONSUMER = {s: f"{s}-orders" for s in SERVICES}
"""Each service's consumer of orders.events (services/<name>/bootstrap.py)."""


def base_journeys(orders: int, seed: int = 8) -> list[tuple[bytes, bytes, int]]:
    """(key, encoded event, order number) of `orders` journeys of the demo shop, in time order."""
    events = shop_day(random.Random(seed), DEMO_SHOP, datetime.now(UTC), orders)
    out = []
    for scheduled in events:
        raw = encode_event(scheduled.event)
        if not raw.startswith(b'{"id":"') or raw[43:44] != b'"':
            raise ValueError("encoded events no longer start with their id; update bench.ingest")
        out.append((scheduled.order_id.encode(), raw, int(scheduled.order_id.rsplit("-", 1)[1])))
    return out


def copy_event(raw: bytes, shift: int) -> tuple[bytes, bytes]:
    """The event with a fresh id and every order/return/repair number moved up by `shift`."""

    def moved(match: re.Match[bytes]) -> bytes:
        return match.group(1) + b"%07d" % (int(match.group(2)) + shift)

    body = NUMBERED_ID.sub(moved, raw[43:]) if shift else raw[43:]
    key = NUMBERED_ID.search(body)
    assert key is not None
    return b'{"id":"' + str(uuid.uuid4()).encode() + body, key.group(0)


async def prefill(settings: Settings, total: int) -> dict[str, Any]:
    """Publish `total` order events to the run's orders.events; returns how long it took."""
    started = time.monotonic()
    base = base_journeys(min(BASE_ORDERS, max(1, total // 5 + 1)))
    generated = time.monotonic() - started
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    topic = settings.topic(topics.ORDERS.name)
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        copy = 0
        while sent < total:
            shift = copy * BASE_ORDERS
            for _, raw, _ in base:
                if sent >= total:
                    break
                value, key = copy_event(raw, shift)
                pending.append(await producer.send(topic, value, key=key))
                sent += 1
                if len(pending) >= 20_000:
                    await asyncio.gather(*pending)
                    pending.clear()
            copy += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    elapsed = time.monotonic() - started
    return {
        "events": sent,
        "base_events": len(base),
        "generate_seconds": round(generated, 2),
        "seconds": round(elapsed, 2),
    }


class Offsets:
    """End offsets of a topic and committed offsets of a group, read from outside the group."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.bootstrap = settings.kafka_bootstrap_servers
        self.topic = topic
        self.partitions = [TopicPartition(topic, p) for p in range(topics.ORDERS.partitions)]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Offsets:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def end(self) -> int:
        return sum((await self._consumer.end_offsets(self.partitions)).values())

    async def committed(self, group: str) -> int:
        found = await self._admin.list_consumer_group_offsets(group, partitions=self.partitions)
        return sum(meta.offset for meta in found.values() if meta.offset >= 0)


async def rewind_group(settings: Settings, group: str, topic: str) -> None:
    """Commit offset 0 on every partition for a group with no members: the next run starts over."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(topics.ORDERS.partitions)]
        consumer.assign(partitions)
        await consumer.commit(dict.fromkeys(partitions, 0))
    finally:
        await consumer.stop()


async def bare_consumer(settings: Settings, total: int, timeout: float) -> dict[str, Any]:
    """The ceiling: read the topic with a plain aiokafka consumer, committing after every batch."""
    consumer = AIOKafkaConsumer(
        settings.topic(topics.ORDERS.name),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_prefix}bench-bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    first: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < total and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                continue
            if first is None:
                first = time.monotonic()
            seen += sum(len(records) for records in batch.values())
            await consumer.commit()
        finished = time.monotonic()
    finally:
        await consumer.stop()
    elapsed = finished - (first or finished)
    return {
        "events": seen,
        "complete": seen >= total,
        "seconds": round(elapsed, 3),
        "events_per_second": round(seen / elapsed, 1) if elapsed > 0 else float("nan"),
    }


def consumed_by_outcome(metrics_text: str, consumer: str) -> dict[str, float]:
    """careloop_events_consumed_total of one consumer summed by outcome (applied, ignored, ...)."""
    totals: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("careloop_events_consumed_total{") and f'consumer="{consumer}"' in line:
            outcome = re.search(r'outcome="([^"]+)"', line)
            if outcome:
                totals[outcome.group(1)] = totals.get(outcome.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def dead_letters(metrics_text: str, consumer: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics_text.splitlines()
        if line.startswith("careloop_dead_letters_total{") and f'consumer="{consumer}"' in line
    )


async def service_ingest(
    settings: Settings, service: str, total: int, window: float, memory: PeakMemory
) -> dict[str, Any]:
    """Run `python -m services.<service>` until its orders consumer committed everything or `window`
    seconds passed since its first commit; the rate is committed events over that span."""
    service_settings = settings.for_service(service)
    group = f"{service_settings.consumer_group}.{ORDERS_CONSUMER[service]}"
    port = free_port()
    process = ServiceProcess(
        f"services.{service}", service_env(service_settings, port), port, memory, f"{service} (ingest)"
    )
    samples: list[tuple[float, int]] = []
    last_unstarted: float | None = None
    """When the group was last seen with nothing committed: a small topic can be consumed whole
    between two samples, and then the rate is bounded from below from this moment."""
    async with Offsets(settings, settings.topic(topics.ORDERS.name)) as offsets:
        end = await offsets.end()
        await process.start()
        try:
            deadline = time.monotonic() + window + 60.0  # bounded even if the service never commits
            while time.monotonic() < deadline:
                committed = await offsets.committed(group)
                now = time.monotonic()
                if committed > 0:
                    samples.append((now, committed))
                else:
                    last_unstarted = now
                if committed >= end or (samples and now - samples[0][0] >= window):
                    break
                await asyncio.sleep(SAMPLE_SECONDS)
            async with httpx.AsyncClient(timeout=5.0) as client:
                metrics_text = (await client.get(process.base + "/metrics")).text
        finally:
            await process.stop()
    lower_bound = len(samples) == 1 and last_unstarted is not None
    if len(samples) >= 2:
        span = samples[-1][0] - samples[0][0]
        rate = (samples[-1][1] - samples[0][1]) / span
    elif lower_bound and last_unstarted is not None:
        span = samples[0][0] - last_unstarted
        rate = samples[0][1] / span
    else:
        span = 0.0
        rate = float("nan")
    outcomes = consumed_by_outcome(metrics_text, ORDERS_CONSUMER[service])
    return {
        "service": service,
        "topic_events": end,
        "committed": samples[-1][1] if samples else 0,
        "complete": bool(samples) and samples[-1][1] >= end,
        "measured_seconds": round(span, 2),
        "rate_is_lower_bound": lower_bound,
        "events_per_second": round(rate, 1),
        "outcomes": {k: int(v) for k, v in outcomes.items()},
        "dead_letters": int(dead_letters(metrics_text, ORDERS_CONSUMER[service])),
    }


async def reset_service(settings: Settings, service: str) -> None:
    """A clean slate for the next repeat: empty schema, consumer group back at the start."""
    service_settings = settings.for_service(service)
    await drop_service_schema(service_settings)
    await ensure_service_schema(service_settings)
    await rewind_group(
        settings,
        f"{service_settings.consumer_group}.{ORDERS_CONSUMER[service]}",
        settings.topic(topics.ORDERS.name),
    )


async def run(
    total: int,
    window: float,
    repeats: int,
    service_repeats: int,
    services: tuple[str, ...],
    memory: PeakMemory,
) -> dict[str, Any]:
    settings = isolated_settings("ingest")
    await provision(settings, services)
    try:
        filled = await prefill(settings, total)
        bare = [await bare_consumer(settings, total, timeout=max(60.0, total / 2000)) for _ in range(repeats)]
        per_service: dict[str, list[dict[str, Any]]] = {s: [] for s in services}
        for attempt in range(service_repeats):
            for service in services:
                if attempt:
                    await reset_service(settings, service)
                per_service[service].append(await service_ingest(settings, service, total, window, memory))
    finally:
        await cleanup(settings, services)
    return {
        "benchmark": "ingest",
        "prefill": filled,
        "window_seconds": window,
        "bare_consumer": {
            "summary": summarize([r["events_per_second"] for r in bare]),
            "runs": bare,
        },
        "services": {
            s: {"summary": summarize([r["events_per_second"] for r in runs]), "runs": runs}
            for s, runs in per_service.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=30.0, help="max seconds measured per service run")
    parser.add_argument("--repeats", type=int, default=3, help="bare consumer runs")
    parser.add_argument("--service-repeats", type=int, default=1)
    parser.add_argument("--services", default=",".join(SERVICES))
    args = parser.parse_args()
    memory = PeakMemory()
    services = tuple(s for s in args.services.split(",") if s)
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(
            run(args.events, args.window, args.repeats, args.service_repeats, services, memory)
        )
        result["peak_rss_kib"] = memory.peaks_kib
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
