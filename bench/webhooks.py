"""Webhook throughput and latency: order events in at a fixed offered rate, signed deliveries out.

    .venv/bin/python -m bench.webhooks --events 2000 --rate 1000

Runs the notify service in-process (its full lifespan: consumers, delivery worker, outbox relay)
against the Kafka and Postgres of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, in its own topic and schema
prefix (removed afterwards). One endpoint of the demo shop points at a local HTTP receiver. Events are
published at `--rate` per second; the receiver (bench/receiver/receiver.c, its own process, answering
204) notes when each webhook-id first arrives. Latency is the event's own time (set when it is
published) to its arrival at the receiver. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from bench.common import (
    DEMO_KEY,
    DEMO_SHOP,
    cleanup,
    isolated_settings,
    own_cpu_seconds,
    provision,
    publish_at_rate,
)
from bench.receiver import CompiledReceiver
from runtime.logs import configure_logging
from schemas import topics
from schemas.registry import encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderDelivered, OrderPaid, OrderShipped
from services.notify import bootstrap
from services.notify.config import NotifyConfig

STEPS = ("order.created", "order.paid", "order.shipped", "order.delivered")


def order_event(i: int, orders: int) -> Any:
    """Event i: order i % orders, step i // orders, so one order's steps are spread over the run."""
    order_id, step = f"bench-{i % orders}", STEPS[min(i // orders, len(STEPS) - 1)]
    common: dict[str, Any] = {
        "shop_id": DEMO_SHOP,
        "order_id": order_id,
        "customer": Customer(id=f"c-{i % orders}", name="Anna", locale="pl-PL"),
    }
    data: Any
    if step == "order.created":
        data = OrderCreated(**common, total=Decimal("99.00"), currency="PLN")
    elif step == "order.paid":
        data = OrderPaid(**common, amount=Decimal("99.00"), currency="PLN")
    elif step == "order.shipped":
        data = OrderShipped(
            **common, carrier="InPost", tracking_number=f"T{i}", promised_delivery_date="2026-01-08"
        )
    else:
        data = OrderDelivered(**common, delivered_at=datetime.now(UTC))
    return make_event(step, "bench", data, subject=order_id)


async def run(events: int, rate: float, timeout: float, in_flight: int) -> dict[str, Any]:
    settings = isolated_settings("webhooks")
    service_settings = settings.for_service("notify")
    config = NotifyConfig(
        allow_loopback=True, max_in_flight_per_endpoint=in_flight, max_in_flight_total=in_flight
    )
    receiver = CompiledReceiver(events, "timestamp")
    await receiver.start()
    await provision(settings, ("notify",))
    app = bootstrap.build(service_settings, config)
    orders = max(1, events // len(STEPS))

    def record(i: int) -> tuple[bytes, bytes]:
        event = order_event(i, orders)
        return event.subject.encode(), encode_event(event)

    try:
        async with app.start_lifespan_context():
            deadline = time.monotonic() + 60
            while not all((await app.runtime.ready()).values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("notify did not become ready")
                await asyncio.sleep(0.1)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
                created = await client.post(
                    "/v1/endpoints",
                    json={"url": receiver.url, "event_types": ["order.*"]},
                    headers={"Authorization": f"Bearer {DEMO_KEY}"},
                )
                created.raise_for_status()
            cpu_before = own_cpu_seconds()
            receiver.mark()
            wall_start = time.time()
            topic = settings.topic(topics.ORDERS.name)
            started, published = await publish_at_rate(
                settings.kafka_bootstrap_servers, topic, events, rate, record
            )
            await receiver.wait_all(timeout)
            finished = time.monotonic()
            cpu = own_cpu_seconds() - cpu_before
            for _ in range(100):  # the last answers reach the receiver just before they are recorded
                done = await app.runtime.db.pool.fetchval("SELECT count(*) FROM attempts")
                if done >= len(receiver.first_seen):
                    break
                await asyncio.sleep(0.1)
            outcomes = {
                r["outcome"]: r["n"]
                for r in await app.runtime.db.fetch(
                    "SELECT outcome, count(*) AS n, min(error) AS error FROM attempts GROUP BY outcome"
                )
            }
            stages = await app.runtime.db.pool.fetchrow(
                """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY
                              extract(epoch FROM d.created_at - d.event_time)) AS to_queue,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY
                              extract(epoch FROM a.attempted_at - d.created_at)) AS queue_to_attempt
                   FROM deliveries d JOIN attempts a ON a.delivery_id = d.id"""
            )
            assert stages is not None
            errors = [
                r["error"]
                for r in await app.runtime.db.fetch(
                    "SELECT DISTINCT error FROM attempts WHERE error IS NOT NULL LIMIT 5"
                )
            ]
    finally:
        await receiver.stop()
        await cleanup(settings, ("notify",))

    delivered = len(receiver.first_seen)
    return {
        "benchmark": "webhooks",
        **receiver.delivery_figures(events, rate, started, published, wall_start),
        "attempts_by_outcome": outcomes,
        "median_stage_ms": {
            "event_to_queued": round(float(stages["to_queue"] or 0) * 1000, 1),
            "queued_to_attempt": round(float(stages["queue_to_attempt"] or 0) * 1000, 1),
        },
        "sample_errors": errors,
        "max_in_flight": in_flight,
        "process_cpu_seconds": round(cpu, 2),
        # CPU per delivery is steadier than deliveries/s on a machine shared with other work
        "process_cpu_ms_per_delivery": round(cpu * 1000 / max(1, delivered), 2),
        "process_cpu_share_of_one_core": round(cpu / max(1e-9, finished - started), 3),
        "note": "service and Kafka producer share one process; the receiver is its own (compiled) process",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events per second")
    parser.add_argument("--timeout", type=float, default=120.0, help="max seconds to wait for deliveries")
    parser.add_argument("--in-flight", type=int, default=32, help="concurrent attempts (per endpoint)")
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    result = asyncio.run(run(args.events, args.rate, args.timeout, args.in_flight))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
