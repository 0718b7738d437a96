"""The orders consumer's one handler over Kafka-sized batches against the same records one batch each,
over the real Postgres.

The same records go once event by event (each a batch of one, in its own transaction) and once in
Kafka-sized batches; the survey tables must end up the same:
several steps of one order inside one batch, a return's two CES triggers, a repeated trigger, an
order cancelled twice, an unknown shop (dead-lettered), duplicates inside and across batches."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from runtime.clock import ManualClock
from runtime.consumer import Consumer, EventProcessor
from runtime.db import Connection
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, RefundIssued
from services.survey import repository
from services.survey.bootstrap import MIGRATIONS, orders_consumer
from services.survey.config import SurveyConfig
from services.survey.context import Context
from tests.support.batches import RecordingSink, records, service_storage
from tests.survey.support import T0, cancelled, customer, delivered, repair_completed, return_received

Snapshot = dict[str, list[dict[str, Any]]]


@pytest.fixture
async def survey(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "survey", MIGRATIONS) as runtime:
        yield runtime


def refund(shop: str, order: str, who: Customer, return_id: str | None = None) -> CloudEvent[Any]:
    data = RefundIssued(
        shop_id=shop,
        order_id=order,
        customer=who,
        amount=Decimal("10.00"),
        currency="PLN",
        return_id=return_id,
    )
    return make_event("refund.issued", "shop", data, subject=order)


def created(shop: str, order: str, who: Customer) -> CloudEvent[Any]:
    data = OrderCreated(shop_id=shop, order_id=order, customer=who, total=Decimal("99.90"), currency="PLN")
    return make_event("order.created", "shop", data, subject=order)


ANNA = customer("c-anna", "Anna@Example.com", locale="pl-PL")
BEN = Customer(id="c-ben", email="ben@example.com")  # no locale: the shop's decides
FIRST_DELIVERY = delivered("shop-a", "o-1", ANNA, T0)
FIRST_CANCEL = cancelled("shop-a", "o-3", ANNA)
BATCHES: list[list[CloudEvent[Any]]] = [
    [
        created("shop-a", "o-1", ANNA),  # no handler: ignored by the runtime
        FIRST_DELIVERY,
        delivered("shop-a", "o-1", ANNA, T0 + timedelta(hours=3)),  # repeated trigger: the first counts
        delivered("shop-b", "o-2", BEN, T0 + timedelta(hours=1)),
        return_received("shop-b", "o-2", BEN, "ret-2"),
        refund("shop-b", "o-2", BEN, return_id="ret-2"),  # the same return: still one CES survey
        FIRST_CANCEL,
        delivered("shop-a", "o-3", ANNA, T0 + timedelta(hours=2)),  # cancelled before: still scheduled
        cancelled("shop-a", "o-3", ANNA),  # cancelled again: the first time stays
        FIRST_DELIVERY,  # duplicate inside the batch
    ],
    [
        delivered("shop-a", "o-1", ANNA, T0 + timedelta(days=1)),  # repeated trigger, new id
        repair_completed("shop-a", "o-4", ANNA, "rep-4"),
        refund("shop-b", "o-5", BEN),  # a refund without a return: its own CES survey
        cancelled("shop-a", "o-3", ANNA),  # and again, in a later batch
        FIRST_CANCEL,  # duplicate of the previous batch
    ],
    [
        delivered("shop-a", "o-6", ANNA, T0),
        delivered("shop-x", "o-7", ANNA, T0),  # unknown shop: dead-lettered
        cancelled("shop-a", "o-6", ANNA),
    ],
]


async def seed_tickets(conn: Connection) -> None:
    """An order with two tickets (the later one is the survey's origin) and one with a single ticket."""
    for ticket, order, channel, category, hours in [
        ("t-1", "o-1", "chat", "delivery", 1),
        ("t-2", "o-1", "email", "returns", 5),
        ("t-4", "o-4", "phone", "product", 3),
    ]:
        await repository.upsert_ticket(
            conn,
            shop_id="shop-a",
            ticket_id=ticket,
            customer_id="c-anna",
            customer_email="anna@example.com",
            order_id=order,
            channel=channel,
            category=category,
            is_open=False,
            at=T0 + timedelta(hours=hours),
        )


async def reset(runtime: ServiceRuntime) -> None:
    async with runtime.db.transaction() as conn:
        await conn.execute(
            "TRUNCATE invitations, decisions, answers, cancelled_orders, tickets, processed_events,"
            " dead_letters, outbox"
        )
        await seed_tickets(conn)


async def snapshot(runtime: ServiceRuntime) -> Snapshot:
    """Every table the orders consumer touches, minus the random survey ids."""
    queries = {
        "invitations": """SELECT shop_id, kind, origin, customer, customer_id, customer_email, order_id,
                                 ticket_id, channel, category, locale, due_at, status, created_at
                          FROM invitations ORDER BY shop_id, kind, origin""",
        "cancelled_orders": "SELECT * FROM cancelled_orders ORDER BY shop_id, order_id",
        "tickets": "SELECT * FROM tickets ORDER BY shop_id, ticket_id",
        "processed_events": "SELECT consumer, event_id FROM processed_events ORDER BY 1, 2",
        "dead_letters": 'SELECT consumer, "offset", event_id, event_type, reason FROM dead_letters'
        ' ORDER BY "offset"',
        "outbox": "SELECT topic, key FROM outbox ORDER BY id",
    }
    return {table: [dict(row) for row in await runtime.db.fetch(query)] for table, query in queries.items()}


def scheduled_counts() -> dict[str, float]:
    return {
        kind: REGISTRY.get_sample_value("careloop_survey_scheduled_total", {"kind": kind}) or 0.0
        for kind in ("nps", "csat", "ces")
    }


class CountingBatches:
    """The real batch handler, counting the batches it applied without raising."""

    def __init__(self, consumer: Consumer) -> None:
        self._inner = consumer.apply
        self.applied: list[int] = []

    async def __call__(self, events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        await self._inner(events, conn)
        self.applied.append(len(events))


async def test_batches_leave_the_same_tables_as_one_event_at_a_time(survey: ServiceRuntime) -> None:
    clock = ManualClock(T0)
    ctx = Context(
        shops=survey.shops,
        config=SurveyConfig(nps_delay_days_by_shop={"shop-b": 2}),
        topic=survey.topic(topics.SURVEYS),
        public_base_url="http://survey.test",
        now=clock.now,
    )
    consumer = orders_consumer(ctx)
    counting = CountingBatches(consumer)
    batched = dataclasses.replace(consumer, apply=counting)
    chunks = records(BATCHES)

    async def run(apply_chunk: Any) -> tuple[Snapshot, dict[str, float], list[tuple[int, str]]]:
        await reset(survey)
        clock.set(T0)
        sink = RecordingSink()
        processor = EventProcessor(survey.db, sink, "survey", attempts=2)
        before = scheduled_counts()
        for chunk in chunks:
            await apply_chunk(processor, chunk)
            clock.advance(timedelta(hours=6))  # CES surveys are timed from receipt
        after = scheduled_counts()
        return await snapshot(survey), {k: after[k] - before[k] for k in after}, sink.letters

    async def event_by_event(
        processor: EventProcessor, chunk: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> None:
        for record in chunk:
            await processor.process_batch(consumer, (record,))

    async def as_batch(processor: EventProcessor, chunk: tuple[ConsumerRecord[bytes, bytes], ...]) -> None:
        await processor.process_batch(batched, chunk)

    reference, reference_counts, reference_letters = await run(event_by_event)
    result, counts, letters = await run(as_batch)

    assert result == reference
    assert counts == reference_counts == {"nps": 4, "csat": 0, "ces": 3}
    assert letters == reference_letters
    # the two clean batches went through the batch handler (fresh events only: the duplicates and the
    # ignored order.created never reach it); the one with the unknown shop was redone event by event
    # (its event before the refused one as a batch of one), and its event after the refused one went
    # through once that one was dead-lettered
    assert counting.applied == [8, 4, 1, 1]
    # and the state is what the rules say, not merely the same twice
    invitations = {(r["kind"], r["origin"]): r for r in result["invitations"]}
    assert sorted(invitations) == [
        ("ces", "refund:o-5"),
        ("ces", "repair:rep-4"),
        ("ces", "return:ret-2"),
        ("nps", "order:o-1"),
        ("nps", "order:o-2"),
        ("nps", "order:o-3"),
        ("nps", "order:o-6"),
    ]
    o1 = invitations[("nps", "order:o-1")]  # the later of its two tickets, the first delivery's time
    assert (o1["channel"], o1["category"], o1["locale"]) == ("email", "returns", "pl")
    assert o1["due_at"] == T0 + timedelta(days=7)
    o2 = invitations[("nps", "order:o-2")]  # no ticket, no customer locale, shop-b's own NPS delay
    assert (o2["channel"], o2["locale"], o2["due_at"]) == (None, "en", T0 + timedelta(hours=1, days=2))
    repair = invitations[("ces", "repair:rep-4")]
    assert (repair["channel"], repair["category"]) == ("phone", "product")
    assert invitations[("ces", "return:ret-2")]["due_at"] == T0
    assert invitations[("ces", "refund:o-5")]["due_at"] == T0 + timedelta(hours=6)
    assert [(r["order_id"], r["cancelled_at"]) for r in result["cancelled_orders"]] == [
        ("o-3", FIRST_CANCEL.time),
        ("o-6", BATCHES[2][2].time),
    ]
    assert [(r["offset"], r["event_type"], r["reason"]) for r in result["dead_letters"]] == [
        (16, "order.delivered", "unprocessable: unknown shop shop-x")
    ]
    # 18 records less the ignored one, two duplicates and the dead letter
    assert len(result["processed_events"]) == 14
    assert result["outbox"] == []
