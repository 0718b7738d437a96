"""Automatic answers to "where is my order?": `POST /v1/contacts` -> `ticket.replied` on Kafka -> the
reply webhook received.

    .venv/bin/python -m bench.wismo --rate 50 --seconds 20

Runs the real intake and notify services (`python -m services.intake` / `services.notify`, uvicorn)
on loopback ports against the Kafka and Postgres of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, in their
own topic and schema prefix (removed afterwards), and the compiled webhook receiver
(bench/receiver.py) with one endpoint of the demo shop subscribed to `ticket.replied`. Turns the demo
shop's automatic answers on, publishes one shipped order per contact to orders.events (each its own
customer, so no contact joins another's ticket) and waits until intake has folded them all in. Then
offers the contacts on schedule at `rate` per second, open loop (a slow answer does not slow the offer
down), each a customer asking where their order is. Two legs per contact, both from the moment its
request was due: to its ticket's `ticket.replied` (automatic) arriving on Kafka, read from
tickets.events (the contact's transaction, the outbox relay and Kafka), and to the reply webhook's
first arrival at the receiver, matched by its `webhook-id` (derived from the event id, as notify
does), which adds notify's consumer, delivery queue and signed POST. The HTTP answer's latency is
beside them. A contact whose reply never arrived counts as later than every one that did, so a
percentile that falls on one is unknown (null), not the arrived ones' figure. Prints one JSON document.

Issue #14's bench line ("p50/p99 at 50 contacts/s"); `make bench` runs it (bench/wismo_scenario.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
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
    percentile,
    provision,
    publish_at_rate,
    service_env,
)
from bench.receiver import CompiledReceiver
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderShipped
from services.notify.handlers import webhook_id_for

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
ORDERS_PER_SECOND = 500.0
"""How fast the orders are published before the load (setup, not measured)."""
SERVICES = ("intake", "notify")
WAIT_SECONDS = 60.0
"""After the last contact, how long the replies and then their webhooks may take to arrive."""


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
        """ticket id -> monotonic arrival of its first automatic reply"""
        self.webhook_ids: dict[str, str] = {}
        """ticket id -> the webhook-id notify gives that reply's event"""
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
                        self._note(event.data.ticket_id, event.id, now)
            if self._wanted is not None and len(self.arrived) >= self._wanted:
                self._enough.set()

    def _note(self, ticket_id: str, event_id: str, now: float) -> None:
        if ticket_id not in self.arrived:
            self.arrived[ticket_id] = now
            self.webhook_ids[ticket_id] = webhook_id_for(event_id)

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


Answered = tuple[float, float, str]
"""(due, answered, ticket id) of a contact answered 201; monotonic seconds."""


def latency_with_lost(arrived: list[float], lost: int) -> dict[str, float | None]:
    """p50/p95/p99/max in ms over every contact answered: `arrived` (seconds, sorted) and `lost` that
    never arrived, ranked after every one that did; a percentile that falls on a lost one is None."""
    ranked = [*arrived, *([math.inf] * lost)]
    figures: dict[str, float | None] = {}
    for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        value = percentile(ranked, share)
        figures[name] = round(value * 1000, 2) if math.isfinite(value) else None
    last = ranked[-1] if ranked else math.inf
    figures["max"] = round(last * 1000, 2) if math.isfinite(last) else None
    return figures


def legs(
    answered: list[Answered],
    replies: dict[str, float],
    webhook_ids: dict[str, str],
    webhooks: dict[str, float],
    wall_offset: float,
) -> tuple[list[float], list[float]]:
    """Seconds from each answered contact's due instant to its reply on Kafka (`replies`: ticket id ->
    monotonic arrival) and to its reply webhook's first arrival (`webhooks`: webhook-id -> wall-clock
    arrival; `wall_offset` = wall clock - monotonic clock), each sorted. A contact whose reply or
    webhook never arrived is left out of that leg."""
    on_kafka: list[float] = []
    webhook: list[float] = []
    for due, _, ticket in answered:
        if ticket in replies:
            on_kafka.append(replies[ticket] - due)
        hook = webhooks.get(webhook_ids.get(ticket, ""))
        if hook is not None:
            webhook.append(hook - wall_offset - due)
    return sorted(on_kafka), sorted(webhook)


def service_process(settings: Settings, name: str, memory: PeakMemory) -> ServiceProcess:
    port = free_port()
    env = service_env(settings.for_service(name), port)
    if name == "notify":
        env["NOTIFY_ALLOW_LOOPBACK"] = "true"  # the receiver listens on 127.0.0.1
    return ServiceProcess(f"services.{name}", env, port, memory, name)


async def prepare(client: httpx.AsyncClient, notify: str, hook_url: str) -> None:
    """The demo shop's automatic answers on, and its endpoint for the replies at the receiver."""
    enabled = await client.put("/v1/settings/automatic-answers", json={"enabled": True}, headers=AUTH)
    enabled.raise_for_status()
    endpoint = {"url": hook_url, "event_types": ["ticket.replied"]}
    created = await client.post(f"{notify}/v1/endpoints", json=endpoint, headers=AUTH)
    created.raise_for_status()


async def load(
    settings: Settings,
    processes: dict[str, ServiceProcess],
    receiver: CompiledReceiver,
    replies: Replies,
    rate: float,
    count: int,
) -> tuple[list[Answered], float]:
    """The orders, then the contacts; waits for their replies, then for those replies' webhooks.
    Returns the contacts answered and the wall clock's offset from the monotonic one."""
    run_id = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    intake = processes["intake"].base
    async with httpx.AsyncClient(base_url=intake, timeout=60.0, limits=limits) as client:
        await prepare(client, processes["notify"].base, receiver.url)
        await publish_orders(settings, run_id, count)
        await wait_for_orders(settings.for_service("intake"), count)
        await replies.start()
        wall_offset = time.time() - time.monotonic()
        answered = await offer(client, run_id, count, rate)
    await replies.wait(len(answered), WAIT_SECONDS)
    receiver.expected = len(replies.arrived)
    await receiver.wait_all(WAIT_SECONDS)
    return answered, wall_offset


async def run(rate: float, seconds: float) -> dict[str, Any]:
    settings = isolated_settings("wismo")
    await provision(settings, SERVICES)
    count = max(1, round(rate * seconds))
    memory = PeakMemory()
    processes = {name: service_process(settings, name, memory) for name in SERVICES}
    receiver = CompiledReceiver(count, "timestamp")
    replies = Replies(settings)
    try:
        await receiver.start()
        for process in processes.values():  # one at a time: each migrates its schema on start
            await process.start()
        answered, wall_offset = await load(settings, processes, receiver, replies, rate, count)
    finally:
        await replies.stop()
        await receiver.stop()
        for process in processes.values():
            await process.stop()
        await cleanup(settings, SERVICES)
    arrivals = {webhook_id: arrived for webhook_id, (arrived, _) in receiver.first_seen.items()}
    on_kafka, webhook = legs(answered, replies.arrived, replies.webhook_ids, arrivals, wall_offset)
    return {
        "benchmark": "wismo",
        "offered_per_s": rate,
        "contacts": count,
        "answered_201": len(answered),
        "replied_on_kafka": len(on_kafka),
        "webhooks_received": len(webhook),
        "duplicate_webhook_requests": receiver.log.requests - len(receiver.first_seen),
        "contact_to_ticket_replied_ms": latency_with_lost(on_kafka, len(answered) - len(on_kafka)),
        "contact_to_reply_webhook_ms": latency_with_lost(webhook, len(answered) - len(webhook)),
        "contact_http_ms": latency_ms(sorted(at - due for due, at, _ in answered)),
        "peak_rss_kib": memory.peaks_kib,
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
