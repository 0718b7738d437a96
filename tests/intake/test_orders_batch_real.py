"""Intake's orders.events consumer over Kafka-sized batches against the same events one batch each,
over the real Postgres.

The same sequence of events goes once in Kafka batches through the consumer as the service builds it
(the runtime redoes a batch event by event when it raises) and once one event per batch; the
service's tables must end up identical. The sequences hold several steps of one
order in one batch, steps arriving out of time order, older steps that still teach a promised date,
tickets waiting for their customer id, duplicates within a batch and across batches, and events of a
shop intake does not know."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from runtime.consumer import Consumer, EventProcessor
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel
from schemas.v1.orders import (
    OrderCancelled,
    OrderCreated,
    OrderDelayed,
    OrderDelivered,
    OrderEventData,
    OrderPaid,
    OrderShipped,
)
from schemas.v1.tickets import Category, Priority, TicketSource, TicketStatus
from services.intake import bootstrap
from services.intake.context import Context
from services.intake.domain.orders import OrderContext, OrderStatus
from services.intake.domain.ticket import Change, Ticket, TicketCustomer
from services.intake.repository import orders as orders_repo
from services.intake.repository import tickets as tickets_repo
from tests.support.batches import RecordingSink, Watched, one_per_batch, records, service_storage
from tests.support.shops import SHOP_A, SHOP_B

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNKNOWN_SHOP = "shop-zz"
TABLES = "orders, messages, ticket_threads, tickets, outbox, processed_events, dead_letters"


@dataclass
class Step:
    kind: str
    shop_id: str
    order_id: str
    minutes: int
    customer_id: str = "c-1"
    email: str | None = "anna@example.com"
    locale: str = "pl-PL"
    promised: date | None = None


def event_of(step: Step) -> CloudEvent[Any]:
    customer = Customer(id=step.customer_id, email=step.email, locale=step.locale)
    common: dict[str, Any] = {"shop_id": step.shop_id, "order_id": step.order_id, "customer": customer}
    at = AT + timedelta(minutes=step.minutes)
    data: OrderEventData
    if step.kind == "order.created":
        data = OrderCreated(**common, total=Decimal("120.00"), currency="PLN")
    elif step.kind == "order.paid":
        data = OrderPaid(**common, amount=Decimal("120.00"), currency="PLN")
    elif step.kind == "order.shipped":
        data = OrderShipped(
            **common,
            carrier="InPost",
            tracking_number="TRK1",
            promised_delivery_date=step.promised or date(2026, 3, 6),
        )
    elif step.kind == "order.delayed":
        data = OrderDelayed(**common, reason="storm", new_promised_delivery_date=step.promised)
    elif step.kind == "order.delivered":
        data = OrderDelivered(**common, delivered_at=at)
    elif step.kind == "order.cancelled":
        data = OrderCancelled(**common)
    else:
        raise ValueError(step.kind)
    event = make_event(step.kind, "shop", data, subject=step.order_id)
    return event.model_copy(update={"time": at})


def ticket(ticket_id: str, shop_id: str, order_id: str | None, customer_id: str | None) -> Ticket:
    return Ticket(
        id=ticket_id,
        shop_id=shop_id,
        status=TicketStatus.OPEN,
        channel=Channel.EMAIL,
        category=Category.ORDER_STATUS,
        priority=Priority.NORMAL,
        subject="Where is my parcel?",
        source=TicketSource.CONTACT,
        source_ref=None,
        customer=TicketCustomer(
            key="email:anna@example.com", id=customer_id, email="anna@example.com", locale="pl-PL"
        ),
        order_id=order_id,
        is_repeat=False,
        repeat_of=None,
        created_at=AT,
        updated_at=AT,
        last_activity_at=AT,
    )


@dataclass(frozen=True)
class Seed:
    """What the service knew before the sequence: orders and tickets."""

    orders: list[tuple[orders_repo.OrderKey, OrderContext]]
    tickets: list[Ticket]


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def run(
    runtime: ServiceRuntime, consumer: Consumer, seed: Seed, batches: list[list[CloudEvent[Any]]]
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[int, str]]]:
    """Start from `seed`, feed the batches through `consumer`; the tables and the dead letters sent."""
    async with runtime.db.transaction() as conn:
        await conn.execute(f"TRUNCATE {TABLES}")
        await orders_repo.save_order_contexts(conn, seed.orders)
        for new in seed.tickets:
            assert await tickets_repo.save(conn, Change(new, created=True))
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "intake", attempts=2)
    for batch in records(batches):
        await processor.process_batch(consumer, batch)
    pool = runtime.db.pool
    tables = {
        "orders": await pool.fetch("SELECT * FROM orders ORDER BY shop_id, order_id"),
        "tickets": await pool.fetch("SELECT * FROM tickets ORDER BY id"),
        "messages": await pool.fetch("SELECT id FROM messages ORDER BY id"),
        "outbox": await pool.fetch("SELECT topic, key FROM outbox ORDER BY id"),
        "processed_events": await pool.fetch(
            "SELECT consumer, event_id FROM processed_events ORDER BY consumer, event_id"
        ),
        "dead_letters": await pool.fetch(
            'SELECT consumer, topic, partition, "offset", event_id, event_type, reason FROM dead_letters'
            ' ORDER BY "offset"'
        ),
    }
    return {name: [dict(r) for r in rows] for name, rows in tables.items()}, sink.letters


def consumers(runtime: ServiceRuntime) -> tuple[Consumer, Watched]:
    """The orders consumer as the service builds it, its handler watched."""
    ctx = Context(now=lambda: AT, tickets_topic="tickets", shops=runtime.shops)
    built = bootstrap.orders_consumer(ctx)
    watched = Watched(built)
    return replace(built, apply=watched), watched


async def test_a_batch_ends_where_its_events_one_by_one_end(runtime: ServiceRuntime) -> None:
    batched, watched = consumers(runtime)
    known = OrderContext(OrderStatus.SHIPPED, AT + timedelta(minutes=50), "c-2", "ola@example.com", "pl-PL")
    seed = Seed(
        orders=[
            ((SHOP_A, "o-2"), known),  # newer than every step below: only learns a promised date
            ((SHOP_A, "o-3"), replace(known, promised_delivery_date=date(2026, 3, 9))),  # learns nothing
        ],
        tickets=[
            ticket("t-1", SHOP_A, "o-1", None),  # waits for the customer id of o-1
            ticket("t-2", SHOP_A, "o-1", "c-known"),  # already has one
            ticket("t-3", SHOP_B, "o-1", None),  # same order id in another shop: untouched
            ticket("t-4", SHOP_A, "o-3", None),
            ticket("t-5", SHOP_A, None, None),
        ],
    )
    o1_paid = event_of(Step("order.paid", SHOP_A, "o-1", 10, customer_id="c-1", email=None))
    first = [
        event_of(Step("order.created", SHOP_A, "o-1", 0, customer_id="c-1")),
        o1_paid,
        o1_paid,  # a duplicate inside the batch
        event_of(Step("order.shipped", SHOP_A, "o-1", 20, customer_id="c-9", promised=date(2026, 3, 5))),
        event_of(Step("order.paid", SHOP_A, "o-2", 5, customer_id="c-2", email=None)),
        event_of(Step("order.shipped", SHOP_A, "o-2", 7, promised=date(2026, 3, 8))),
        event_of(Step("order.shipped", SHOP_A, "o-3", 8, promised=date(2026, 3, 7))),
        event_of(Step("order.delivered", SHOP_A, "o-4", 30)),
        event_of(Step("order.paid", SHOP_A, "o-4", 25, locale="en")),  # older, arrives later
        event_of(Step("order.created", SHOP_B, "o-1", 1, customer_id="c-b")),
    ]
    second = [
        o1_paid,  # redelivered in a later batch
        event_of(Step("order.delivered", SHOP_A, "o-1", 40, customer_id="c-1", email="new@example.com")),
        event_of(Step("order.paid", UNKNOWN_SHOP, "o-1", 41)),
        event_of(Step("order.delayed", SHOP_A, "o-5", 42, promised=None)),
    ]

    tables, letters = await run(runtime, batched, seed, [first, second])
    calls = list(watched.calls)
    reference, reference_letters = await run(runtime, batched, seed, one_per_batch([first, second]))

    # the first batch took the fast path; the second raised, was redone event by event (a batch of one
    # each: the delivery, then the unknown shop's event, which stops its partition), and the event
    # after the refused one went through once that one was dead-lettered
    assert calls == ["ok", "Unprocessable", "ok", "Unprocessable", "ok"]
    assert tables == reference
    assert letters == reference_letters
    assert letters == [(12, "unprocessable: unknown shop 'shop-zz'")]
    # and the shared result is the right one, so the comparison is not between two no-ops
    orders = {(o["shop_id"], o["order_id"]): o for o in tables["orders"]}
    o1 = orders[(SHOP_A, "o-1")]
    assert (o1["status"], o1["customer_id"], o1["customer_email"], o1["promised_delivery_date"]) == (
        "delivered",
        "c-1",
        "new@example.com",
        date(2026, 3, 5),
    )
    assert (orders[(SHOP_A, "o-2")]["status"], orders[(SHOP_A, "o-2")]["promised_delivery_date"]) == (
        "shipped",
        date(2026, 3, 8),
    )
    assert orders[(SHOP_A, "o-3")]["promised_delivery_date"] == date(2026, 3, 9)
    assert (orders[(SHOP_A, "o-4")]["status"], orders[(SHOP_A, "o-4")]["customer_locale"]) == (
        "delivered",
        "pl-PL",
    )
    assert orders[(SHOP_A, "o-5")]["status"] == "delayed"
    assert (SHOP_B, "o-1") in orders
    assert (UNKNOWN_SHOP, "o-1") not in orders
    customer_ids = {t["id"]: t["customer_id"] for t in tables["tickets"]}
    assert customer_ids == {"t-1": "c-1", "t-2": "c-known", "t-3": "c-b", "t-4": "c-1", "t-5": None}
    assert len(tables["processed_events"]) == len({e.id for e in first + second}) - 1  # not the unknown shop


def random_sequence(rng: random.Random) -> tuple[Seed, list[list[CloudEvent[Any]]]]:
    """Interleaved journeys of a few orders with colliding and out-of-order times, changing customers
    and e-mails, re-sent events and now and then an unknown shop, cut into batches of random size."""
    kinds = ["order.created", "order.paid", "order.shipped", "order.delayed", "order.delivered"]
    kinds.append("order.cancelled")
    orders = [(rng.choice([SHOP_A, SHOP_B]), f"o-{n}") for n in range(12)]
    seed_orders = [
        (
            key,
            OrderContext(
                rng.choice(list(OrderStatus)),
                AT + timedelta(minutes=rng.randrange(0, 60)),
                rng.choice(["c-1", "c-2"]),
                rng.choice([None, "seed@example.com"]),
                "en",
                rng.choice([None, date(2026, 3, 10)]),
            ),
        )
        for key in orders[:5]
    ]
    seed_tickets = [
        ticket(f"t-{n}", shop_id, order_id, rng.choice([None, None, "c-known"]))
        for n, (shop_id, order_id) in enumerate(orders * 2)
    ]
    events: list[CloudEvent[Any]] = []
    for _ in range(120):
        if events and rng.random() < 0.08:
            events.append(rng.choice(events))  # re-sent: same id
            continue
        shop_id, order_id = rng.choice(orders)
        if rng.random() < 0.02:
            shop_id = UNKNOWN_SHOP
        events.append(
            event_of(
                Step(
                    rng.choice(kinds),
                    shop_id,
                    order_id,
                    rng.randrange(0, 90),
                    customer_id=rng.choice(["c-1", "c-2", "c-3"]),
                    email=rng.choice([None, "anna@example.com", "ola@example.com"]),
                    locale=rng.choice(["pl-PL", "en"]),
                    promised=rng.choice([None, date(2026, 3, 5), date(2026, 3, 12)]),
                )
            )
        )
    batches: list[list[CloudEvent[Any]]] = []
    while events:
        size = rng.randrange(1, 40)
        batches.append(events[:size])
        events = events[size:]
    return Seed(seed_orders, seed_tickets), batches


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_sequences_end_the_same_either_way(runtime: ServiceRuntime, seed: int) -> None:
    batched, watched = consumers(runtime)
    start, batches = random_sequence(random.Random(seed))

    tables, letters = await run(runtime, batched, start, batches)
    reference, reference_letters = await run(runtime, batched, start, one_per_batch(batches))

    assert tables == reference
    assert letters == reference_letters
    assert "ok" in watched.calls  # most batches took the fast path
    assert tables["orders"]  # not two empty results
