"""Ceilings: the same work done the barest way on the same machine, so every figure has a reference.

    .venv/bin/python -m bench.ceilings pipeline --events 5000 --rate 1000
        producer -> Kafka -> consumer -> POST (notify's HTTP client, 32 in flight, each sent as soon
        as its record is consumed) -> the same local receiver, no durability (no outbox, no Postgres,
        auto-commit): the floor under notify's event -> signed webhook latency. The receiver is the
        same compiled one as bench/webhooks.py's (bench/receiver.py).
    .venv/bin/python -m bench.ceilings timers --clocks 1000000 [--due 100000] [--window 60] [--lead 20]
        N timer rows in one indexed Postgres table, the first `due` falling due evenly over the window
        (the rest a day later, as bench/sla_timers.py lays them out); a 0.2 s sweep claims due rows
        (FOR UPDATE SKIP LOCKED) and deletes them: the floor under SLA timer lag (and, with --window 0,
        under its drain rate).
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
from decimal import Decimal
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.common import (
    DEMO_SHOP,
    cleanup,
    isolated_settings,
    latency_ms,
    own_cpu_seconds,
    provision,
    publish_at_rate,
    status_kib,
)
from bench.receiver import CompiledReceiver
from bench.sla_timers import LATER, LATER_SPREAD, drain_rate
from schemas import topics
from schemas.registry import encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated
from services.notify.domain.ssrf import EgressPolicy
from services.notify.egress import EgressClient

SWEEP_SECONDS = 0.2
"""The SLA service's timer sweep interval (services/sla/bootstrap.py)."""
IN_FLIGHT = 32
"""Concurrent POSTs, as bench/webhooks.py gives notify by default."""


def order_event(i: int) -> Any:
    data = OrderCreated(
        shop_id=DEMO_SHOP,
        order_id=f"bare-{i}",
        customer=Customer(id=f"c-{i}", name="Anna", locale="pl-PL"),
        total=Decimal("99.00"),
        currency="PLN",
    )
    return make_event("order.created", "bench", data, subject=data.order_id)


def order_record(i: int) -> tuple[bytes, bytes]:
    event = order_event(i)
    return event.subject.encode(), encode_event(event)


async def forward(
    bootstrap: str, topic: str, url: str, ready: asyncio.Event, stop: asyncio.Event
) -> dict[str, int]:
    """Consume and POST each record as soon as it is consumed, at most IN_FLIGHT at a time, through
    the HTTP client notify uses (a bare pipeline measured with a slower client would not be a floor
    under notify); nothing is stored, offsets auto-commit. Returns the failed POSTs by error type."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{topic}.bare", auto_offset_reset="earliest"
    )
    await consumer.start()
    slots = asyncio.Semaphore(IN_FLIGHT)
    client = EgressClient(EgressPolicy(allow_loopback=True), connections_per_endpoint=IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()
    failures: dict[str, int] = {}

    async def post(value: bytes, event_id: str) -> None:
        try:
            async with asyncio.timeout(10.0):
                await client.post(
                    "bare", url, value, {"webhook-id": event_id, "content-type": "application/json"}, 4096
                )
        except Exception as exc:  # counted; the event shows as undelivered
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        finally:
            slots.release()

    try:
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
        await client.aclose()
        await consumer.stop()
    return failures


async def pipeline(events: int, rate: float, timeout: float) -> dict[str, Any]:
    settings = isolated_settings("pipe")
    await provision(settings, ())
    receiver = CompiledReceiver(events, "time")
    await receiver.start()
    ready, stop = asyncio.Event(), asyncio.Event()
    topic = settings.topic(topics.ORDERS.name)
    try:
        forwarder = asyncio.create_task(
            forward(settings.kafka_bootstrap_servers, topic, receiver.url, ready, stop)
        )
        await asyncio.wait_for(ready.wait(), 60.0)  # the consumer owns its partitions before the load
        cpu_before = own_cpu_seconds()
        receiver.mark()
        wall_start = time.time()
        started, published = await publish_at_rate(
            settings.kafka_bootstrap_servers, topic, events, rate, order_record
        )
        await receiver.wait_all(timeout)
        cpu = own_cpu_seconds() - cpu_before
        stop.set()
        failures = await forwarder
    finally:
        await receiver.stop()
        await cleanup(settings, ())
    delivered = len(receiver.first_seen)
    return {
        "benchmark": "bare_pipeline",
        **receiver.delivery_figures(events, rate, started, published, wall_start),
        "failed_posts": failures,
        "max_in_flight": IN_FLIGHT,
        # as bench/webhooks.py reports it: load generator and pipeline in one process (not the receiver)
        "process_cpu_ms_per_delivery": round(cpu * 1000 / max(1, delivered), 2),
    }


async def timers(clocks: int, window: float, lead: float, due: int) -> dict[str, Any]:
    """`clocks` open timers, the first `due` falling due evenly over `window` seconds from `lead`
    seconds after the insert and the rest a day later, as bench/sla_timers.py lays out the SLA
    service's clocks. A sweep every 0.2 s claims due rows (FOR UPDATE SKIP LOCKED, 5,000 a
    transaction) and deletes them; lag = commit - due."""
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
               SELECT 'clock-' || g, clock_timestamp() + make_interval(secs => CASE
                   WHEN g <= $4 THEN $2::float8 + (g - 1) * $3::float8
                   ELSE $2::float8 + $5::float8 + (g - $4) * $6::float8 END)
               FROM generate_series(1, $1) AS g""",
            clocks,
            lead,
            window / max(1, due),
            due,
            window + LATER.total_seconds(),
            LATER_SPREAD.total_seconds() / max(1, clocks - due),
        )
        await conn.execute("CREATE INDEX ON timers (due_at)")
        await conn.execute("ANALYZE timers")
        load_seconds = time.monotonic() - loaded
        deadline = time.monotonic() + lead + window + 90.0
        while len(lags) < due and time.monotonic() < deadline:
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
        "due_in_window": due,
        "fired": len(lags),
        "window_seconds": window,
        "lead_seconds": lead,
        "load_seconds": round(load_seconds, 2),
        "sweep_seconds": SWEEP_SECONDS,
        "lag_ms": latency_ms(lags),
        "drained_per_second": drain_rate(lags, due, window),
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
    timer.add_argument("--due", type=int, default=None, help="of them, due in the window (default all)")
    timer.add_argument("--window", type=float, default=60.0, help="seconds over which timers fall due")
    timer.add_argument("--lead", type=float, default=20.0, help="seconds from the insert to the first")
    idle_parser = sub.add_parser("idle")
    idle_parser.add_argument("--service", required=True)
    args = parser.parse_args()
    if args.what == "pipeline":
        result = asyncio.run(pipeline(args.events, args.rate, args.timeout))
    elif args.what == "timers":
        due = args.clocks if args.due is None else min(args.due, args.clocks)
        result = asyncio.run(timers(args.clocks, args.window, args.lead, due))
    else:
        result = idle(args.service)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
