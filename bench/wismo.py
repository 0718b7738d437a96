"""Automatic answers to "where is my order?": `POST /v1/contacts` -> `ticket.replied` on Kafka.

    .venv/bin/python -m bench.wismo --rate 50 --seconds 20

Runs the real intake service (`python -m services.intake`, uvicorn) on a loopback port against the
Kafka and Postgres of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, in its own topic and schema prefix
(removed afterwards). Turns the demo shop's automatic answers on, publishes one shipped order per
contact to orders.events (each its own customer, so no contact joins another's ticket) and waits until
intake has folded them all in. Then offers the contacts on schedule at `rate` per second, open loop
(a slow answer does not slow the offer down), each a customer asking where their order is, and reads
tickets.events: the latency of a contact is from the moment its request was due to the moment its
ticket's `ticket.replied` (automatic) arrived on Kafka, which takes the contact's transaction, the
outbox relay and Kafka. The HTTP answer's latency is beside it. Prints one JSON document.

Issue #14's bench line ("p50/p99 at 50 contacts/s"); the receiving side of the reply webhook is
notify's and measured by bench/webhooks.py. A module of its own for `make bench` to call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import (
    DEMO_KEY,
    DEMO_SHOP,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    latency_ms,
    provision,
    publish_at_rate,
    service_env,
)
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderShipped

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
ORDERS_PER_SECOND = 500.0
"""How fast the orders are published before the load (setup, not measured)."""


def customer(run: str, n: int) -> Customer:
    return Customer(id=f"c-{run}-{n}", email=f"wismo.{run}.{n}@example.com", name="Ola", locale="en")


def order_events(run: str, n: int, at: datetime) -> list[bytes]:
    order_id = f"W-{run}-{n}"
    who = customer(run, n)
    created = OrderCreated(
        shop_id=DEMO_SHOP, order_id=order_id, customer=who, total=Decimal("89.00"), currency="PLN"
    )
    shipped = OrderShipped.model_validate(
        {
            "shop_id": DEMO_SHOP,
            "order_id": order_id,
            "customer": who,
            "carrier": "InPost",
            "tracking_number": f"RM{n:07d}PL",
            "tracking_url": f"https://tracking.example/RM{n:07d}PL",
            "promised_delivery_date": date.today() + timedelta(days=3),
        }
    )
    return [
        encode_event(make_event("order.created", "bench", created, subject=order_id, time=at)),
        encode_event(make_event("order.shipped", "bench", shipped, subject=order_id, time=at)),
    ]


async def publish_orders(settings: Settings, run: str, count: int) -> None:
    at = datetime.now(UTC) - timedelta(days=1)
    records = [(f"W-{run}-{n}".encode(), v) for n in range(count) for v in order_events(run, n, at)]
    topic = settings.topic(topics.ORDERS.name)
    await publish_at_rate(
        settings.kafka_bootstrap_servers, topic, len(records), ORDERS_PER_SECOND, lambda i: records[i]
    )


async def wait_for_orders(service: Settings, count: int, timeout: float = 300.0) -> None:
    conn = await asyncpg.connect(service.service_dsn(), server_settings={"search_path": service.db_schema})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = await conn.fetchval("SELECT count(*) FROM orders WHERE tracking_url IS NOT NULL")
            if known >= count:
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"intake knew {known} of {count} orders after {timeout:.0f} s")
    finally:
        await conn.close()


class Replies:
    """ticket.replied (automatic) of tickets.events, from the end of the topic as it was at start."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic(topics.TICKETS.name)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
        )
        self.arrived: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._wanted: int | None = None
        self._enough = asyncio.Event()

    async def start(self) -> None:
        await self._consumer.start()
        assigned = [TopicPartition(self._topic, p) for p in range(topics.TICKETS.partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    event = decode_event(record.value) if record.value else None
                    if event is not None and event.type == "ticket.replied" and event.data.automatic:
                        self.arrived.setdefault(event.data.ticket_id, now)
            if self._wanted is not None and len(self.arrived) >= self._wanted:
                self._enough.set()

    async def wait(self, count: int, timeout: float) -> None:
        """Until `count` replies arrived, or `timeout` seconds (the report then counts the missing)."""
        self._wanted = count
        if len(self.arrived) >= count:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._enough.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


async def offer(
    client: httpx.AsyncClient, run: str, count: int, rate: float
) -> list[tuple[float, float, str]]:
    """Every contact at its due instant; (due, answered, ticket id) of each one answered 201."""
    started = time.monotonic()

    async def one(n: int) -> tuple[float, float, str] | None:
        due = started + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        body = {
            "channel": "chat",
            "customer_email": customer(run, n).email,
            "order_id": f"W-{run}-{n}",
            "subject": "Where is my order?",
            "body": "Where is my parcel?",
        }
        response = await client.post("/v1/contacts", json=body, headers=AUTH)
        if response.status_code != 201:
            return None
        return due, time.monotonic(), str(response.json()["ticket_id"])

    done = await asyncio.gather(*(one(n) for n in range(count)))
    return [d for d in done if d is not None]


async def run(rate: float, seconds: float) -> dict[str, Any]:
    settings = isolated_settings("wismo")
    service = settings.for_service("intake")
    await provision(settings, ("intake",))
    count = max(1, round(rate * seconds))
    run_id = uuid.uuid4().hex[:6]
    port = free_port()
    process = ServiceProcess("services.intake", service_env(service, port), port, PeakMemory(), "intake")
    replies = Replies(settings)
    try:
        await process.start()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=process.base, timeout=60.0, limits=limits) as client:
            settings_response = await client.put(
                "/v1/settings/automatic-answers", json={"enabled": True}, headers=AUTH
            )
            settings_response.raise_for_status()
            await publish_orders(settings, run_id, count)
            await wait_for_orders(service, count)
            await replies.start()
            answered = await offer(client, run_id, count, rate)
            await replies.wait(len(answered), timeout=60.0)
    finally:
        await replies.stop()
        await process.stop()
        await cleanup(settings, ("intake",))
    on_kafka = sorted(replies.arrived[t] - due for due, _, t in answered if t in replies.arrived)
    http = sorted(at - due for due, at, _ in answered)
    return {
        "benchmark": "wismo",
        "offered_per_s": rate,
        "contacts": count,
        "answered_201": len(answered),
        "replied_on_kafka": len(on_kafka),
        "contact_to_ticket_replied_ms": latency_ms(on_kafka),
        "contact_http_ms": latency_ms(http),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="contacts offered per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load lasts")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rate, args.seconds)), indent=2))


if __name__ == "__main__":
    main()
