"""Events in, SLA events out: helpers for the SLA service's real Kafka + Postgres tests."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.clock import ManualClock
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import decode_event, make_event
from schemas.v1.common import Customer, EventData
from schemas.v1.orders import ORDER_EVENT_TYPES
from schemas.v1.tickets import TICKET_EVENT_TYPES, Author, Category, Priority
from services.sla.bootstrap import build
from tests.support.kafka import produce
from tests.support.shops import SHOP_A
from tests.support.stack import wait_ready
from tests.support.wait import eventually

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
"""Wednesday 10:00 in Warsaw: inside the default business hours, no holiday near."""


def event(event_type: str, data: EventData, subject: str, at: datetime) -> CloudEvent[Any]:
    return make_event(event_type, "test", data, subject=subject).model_copy(update={"time": at})


def ticket_fields(
    ticket_id: str, channel: str = "chat", priority: str = "normal", shop: str = SHOP_A
) -> dict[str, Any]:
    return {
        "shop_id": shop,
        "ticket_id": ticket_id,
        "channel": channel,
        "category": Category.OTHER.value,
        "priority": Priority(priority).value,
    }


def ticket_event(event_type: str, ticket_id: str, at: datetime, /, **fields: Any) -> CloudEvent[Any]:
    base = ticket_fields(
        ticket_id,
        fields.pop("channel", "chat"),
        fields.pop("priority", "normal"),
        fields.pop("shop", SHOP_A),
    )
    model = TICKET_EVENT_TYPES[event_type]
    if "at" in model.model_fields:
        fields.setdefault("at", at)
    return event(event_type, model(**base, **fields), ticket_id, at)


def message(
    ticket_id: str, at: datetime, author: Author, internal: bool = False, **kw: Any
) -> CloudEvent[Any]:
    return ticket_event(
        "ticket.message_added",
        ticket_id,
        at,
        message_id=uuid.uuid4().hex,
        author=author,
        internal=internal,
        **kw,
    )


def status(ticket_id: str, at: datetime, previous: str, new: str, **kw: Any) -> CloudEvent[Any]:
    return ticket_event("ticket.status_changed", ticket_id, at, previous_status=previous, status=new, **kw)


def customer(cid: str = "c-1") -> Customer:
    return Customer(id=cid, email=f"{cid}@example.com", name="Anna")


def order_event(
    event_type: str, order_id: str, at: datetime, shop: str = SHOP_A, **fields: Any
) -> CloudEvent[Any]:
    data = ORDER_EVENT_TYPES[event_type](shop_id=shop, order_id=order_id, customer=customer(), **fields)
    return event(event_type, data, order_id, at)


async def send(settings: Settings, topic: topics.Topic, *events: CloudEvent[Any]) -> None:
    for item in events:
        await produce(settings, topic.name, item)


@asynccontextmanager
async def running_sla(settings: Settings, clock: ManualClock) -> AsyncIterator[ServiceApp]:
    """The SLA service with its whole lifespan, on `clock` from the very first sweep (a sweep on the
    system clock would find every test deadline long past)."""
    service_settings = settings.for_service("sla")
    await ensure_service_schema(service_settings)
    app = build(service_settings)
    app.runtime.clock = clock
    async with app.start_lifespan_context():
        await wait_ready(app)
        yield app


CLOCK_CHANGES = frozenset({"sla.clock_changed"})
"""A clock's changes of state: the tests of what the clocks and timers fire leave them out."""


async def all_records(
    settings: Settings, topic: str = topics.SLA.name, *, clock_changes: bool = False
) -> list[CloudEvent[Any]]:
    """Every event on the topic up to its current end offsets (exact, no waiting for a count);
    `sla.clock_changed` only if `clock_changes`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        name = settings.topic(topic)
        partitions = [TopicPartition(name, p) for p in range(topics.by_name(topic).partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        found = [decode_event(r.value or b"") for r in records]
        return [e for e in found if clock_changes or e.type not in CLOCK_CHANGES]
    finally:
        await consumer.stop()


async def outbox_drained(app: ServiceApp) -> bool:
    return bool(await app.runtime.db.pool.fetchval("SELECT count(*) = 0 FROM outbox"))


async def sla_events(
    settings: Settings, app: ServiceApp, subject: str | None = None, *, clock_changes: bool = False
) -> list[CloudEvent[Any]]:
    """All SLA events once the outbox has shipped everything (optionally one ticket's or order's)."""
    await eventually(lambda: outbox_drained(app), timeout=60)  # a loaded broker can be slow to elect leaders
    found = await all_records(settings, clock_changes=clock_changes)
    return [e for e in found if subject is None or e.subject == subject]


def kinds(found: list[CloudEvent[Any]]) -> list[tuple[str, str]]:
    """(type, metric or promise) pairs; escalations carry their level, e.g. first_response:2."""
    out = []
    for item in found:
        data = item.data
        label = str(data.metric.value if hasattr(data, "metric") else data.promise.value)
        if item.type == "sla.escalated":
            label = f"{label}:{data.level}"
        out.append((item.type, label))
    return out


def counted(found: list[CloudEvent[Any]]) -> Counter[tuple[str, str]]:
    return Counter(kinds(found))


async def clock_rows(app: ServiceApp, ticket_id: str) -> list[dict[str, Any]]:
    rows = await app.runtime.db.pool.fetch(
        "SELECT metric, status, outcome, due_at, stages_done FROM clocks"
        " WHERE ticket_id = $1 ORDER BY started_at, id",
        ticket_id,
    )
    return [dict(r) for r in rows]


async def wait_clocks(app: ServiceApp, ticket_id: str, count: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]]:
        rows = await clock_rows(app, ticket_id)
        return rows if len(rows) >= count else []

    return await eventually(enough)
