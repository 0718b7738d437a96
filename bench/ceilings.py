"""Ceilings: the same work done the barest way on the same machine, so every figure has a reference.

    .venv/bin/python -m bench.ceilings pipeline --events 5000 --rate 1000
        producer -> Kafka -> consumer -> httpx POST -> local receiver, no durability (no outbox, no
        Postgres, auto-commit): the floor under notify's event -> signed webhook latency.
    .venv/bin/python -m bench.ceilings timers --clocks 100000 [--window 60] [--lead 20]
        N timer rows in one indexed Postgres table falling due evenly over the window; a 0.2 s sweep
        claims due rows (FOR UPDATE SKIP LOCKED) and deletes them: the floor under SLA timer lag.
    .venv/bin/python -m bench.ceilings idle --service intake
        the service's code imported and its app built, nothing started: the floor under its RSS.

Each prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    DEMO_SHOP,
    cleanup,
    isolated_settings,
    latency_ms,
    provision,
    status_kib,
)
from schemas import topics
from schemas.registry import encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated

SWEEP_SECONDS = 0.2
"""The SLA service's timer sweep interval (services/sla/bootstrap.py)."""
IN_FLIGHT = 32
"""Concurrent POSTs, as bench/webhooks.py gives notify by default."""


class Receiver:
    """HTTP/1.1 on loopback: answers 200 at once, notes each webhook-id's first arrival and the
    event time carried in the body, as bench/webhooks.py's receiver does for notify."""

    def __init__(self, expected: int) -> None:
        self.first_seen: dict[str, tuple[float, float]] = {}
        self.requests = 0
        self.expected = expected
        self.all_arrived = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time()
                self.requests += 1
                webhook_id = headers.get("webhook-id", "")
                if webhook_id not in self.first_seen:
                    stamp = json.loads(body)["time"].replace("Z", "+00:00")
                    self.first_seen[webhook_id] = (arrived, datetime.fromisoformat(stamp).timestamp())
                    if len(self.first_seen) >= self.expected:
                        self.all_arrived.set()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()


def order_event(i: int) -> Any:
    data = OrderCreated(
        shop_id=DEMO_SHOP,
        order_id=f"bare-{i}",
        customer=Customer(id=f"c-{i}", name="Anna", locale="pl-PL"),
        total=Decimal("99.00"),
        currency="PLN",
    )
    return make_event("order.created", "bench", data, subject=data.order_id)


async def publish(bootstrap: str, topic: str, count: int, rate: float) -> tuple[float, float]:
    """`count` events at `rate`/s on schedule, each stamped when it is created (as bench/webhooks.py)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    pending = []
    try:
        started = time.monotonic()
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = order_event(i)
            pending.append(await producer.send(topic, encode_event(event), key=event.subject.encode()))
        await asyncio.gather(*pending)
        return started, time.monotonic()
    finally:
        await producer.stop()


async def forward(bootstrap: str, topic: str, url: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """Consume and POST each record, at most IN_FLIGHT at a time; nothing is stored, offsets auto-commit."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{topic}.bare", auto_offset_reset="earliest"
    )
    await consumer.start()
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()
    try:
        async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

            async def post(value: bytes, event_id: str) -> None:
                try:
                    await client.post(
                        url,
                        content=value,
                        headers={"webhook-id": event_id, "content-type": "application/json"},
                    )
                finally:
                    slots.release()

            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=500)
                if consumer.assignment():
                    ready.set()
                for records in batch.values():
                    for record in records:
                        value = record.value or b""
                        await slots.acquire()
                        task = asyncio.create_task(post(value, json.loads(value)["id"]))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await consumer.stop()


async def pipeline(events: int, rate: float, timeout: float) -> dict[str, Any]:
    settings = isolated_settings("pipe")
    await provision(settings, ())
    receiver = Receiver(events)
    await receiver.start()
    ready, stop = asyncio.Event(), asyncio.Event()
    topic = settings.topic(topics.ORDERS.name)
    url = f"http://127.0.0.1:{receiver.port}/hook"
    try:
        forwarder = asyncio.create_task(forward(settings.kafka_bootstrap_servers, topic, url, ready, stop))
        await asyncio.wait_for(ready.wait(), 60.0)  # the consumer owns its partitions before the load
        wall_start = time.time()
        started, published = await publish(settings.kafka_bootstrap_servers, topic, events, rate)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.all_arrived.wait(), timeout)
        stop.set()
        await forwarder
    finally:
        await receiver.stop()
        await cleanup(settings, ())
    arrivals = sorted(arrived for arrived, _ in receiver.first_seen.values())
    latencies = sorted(arrived - event_time for arrived, event_time in receiver.first_seen.values())
    delivered = len(receiver.first_seen)
    last = (arrivals[-1] - wall_start) if arrivals else float("nan")
    return {
        "benchmark": "bare_pipeline",
        "events": events,
        "offered_rate_per_second": rate,
        "achieved_publish_rate_per_second": round(events / max(1e-9, published - started), 1),
        "delivered": delivered,
        "undelivered": events - delivered,
        "duplicate_requests": receiver.requests - delivered,
        "deliveries_per_second": round(delivered / last, 1) if delivered else 0.0,
        "event_to_delivery_latency_ms": latency_ms(latencies),
        "max_in_flight": IN_FLIGHT,
    }


async def timers(clocks: int, window: float, lead: float) -> dict[str, Any]:
    """`clocks` open timers falling due evenly over `window` seconds from `lead` seconds after the
    insert, as bench/sla_timers.py lays out the SLA service's clocks. A sweep every 0.2 s claims due
    rows (FOR UPDATE SKIP LOCKED, 5,000 a transaction) and deletes them; lag = commit - due."""
    settings = isolated_settings("timers")
    schema = f"{settings.schema_prefix}timers"
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    lags: list[float] = []
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path = "{schema}"')
        await conn.execute(
            "CREATE TABLE timers (id bigserial PRIMARY KEY, clock_id text NOT NULL,"
            " due_at timestamptz NOT NULL)"
        )
        loaded = time.monotonic()
        await conn.execute(
            """INSERT INTO timers (clock_id, due_at)
               SELECT 'clock-' || g, clock_timestamp() + make_interval(secs => $2::float8 + g * $3::float8)
               FROM generate_series(1, $1) AS g""",
            clocks,
            lead,
            window / max(1, clocks),
        )
        await conn.execute("CREATE INDEX ON timers (due_at)")
        await conn.execute("ANALYZE timers")
        load_seconds = time.monotonic() - loaded
        deadline = time.monotonic() + lead + window + 90.0
        while len(lags) < clocks and time.monotonic() < deadline:
            while True:
                async with conn.transaction():
                    claimed = await conn.fetch(
                        """DELETE FROM timers WHERE id IN (
                               SELECT id FROM timers WHERE due_at <= clock_timestamp()
                               ORDER BY due_at LIMIT 5000 FOR UPDATE SKIP LOCKED)
                           RETURNING extract(epoch FROM due_at)::float8 AS due"""
                    )
                committed = time.time()
                lags.extend(max(0.0, committed - row["due"]) for row in claimed)
                if len(claimed) < 5000:
                    break
            await asyncio.sleep(SWEEP_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    lags.sort()
    return {
        "benchmark": "bare_timers",
        "clocks": clocks,
        "fired": len(lags),
        "window_seconds": window,
        "lead_seconds": lead,
        "load_seconds": round(load_seconds, 2),
        "sweep_seconds": SWEEP_SECONDS,
        "lag_ms": latency_ms(lags),
    }


def idle(service: str) -> dict[str, Any]:
    settings = isolated_settings("idle").for_service(service)
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    app = bootstrap.build(settings)
    assert app is not None
    return {"benchmark": "idle", "service": service, "peak_rss_kib": status_kib(os.getpid(), "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    pipe = sub.add_parser("pipeline")
    pipe.add_argument("--events", type=int, default=2000)
    pipe.add_argument("--rate", type=float, default=1000.0)
    pipe.add_argument("--timeout", type=float, default=60.0)
    timer = sub.add_parser("timers")
    timer.add_argument("--clocks", type=int, default=100_000)
    timer.add_argument("--window", type=float, default=60.0, help="seconds over which timers fall due")
    timer.add_argument("--lead", type=float, default=20.0, help="seconds from the insert to the first")
    idle_parser = sub.add_parser("idle")
    idle_parser.add_argument("--service", required=True)
    args = parser.parse_args()
    if args.what == "pipeline":
        result = asyncio.run(pipeline(args.events, args.rate, args.timeout))
    elif args.what == "timers":
        result = asyncio.run(timers(args.clocks, args.window, args.lead))
    else:
        result = idle(args.service)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
