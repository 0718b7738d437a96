"""Builders and probes shared by the survey tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import decode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel
from schemas.v1.orders import OrderCancelled, OrderDelivered, RepairCompleted, ReturnReceived
from schemas.v1.tickets import Category, Priority, TicketCreated, TicketSolved, TicketStatus
from tests.support.kafka import produce, read_topic
from tests.support.wait import eventually

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def customer(cid: str, email: str | None = None, locale: str = "pl-PL") -> Customer:
    return Customer(id=cid, email=email or f"{cid}@example.com", name="Anna Nowak", locale=locale)


def delivered(shop: str, order: str, who: Customer, at: datetime) -> CloudEvent[Any]:
    data = OrderDelivered(shop_id=shop, order_id=order, customer=who, delivered_at=at)
    return make_event("order.delivered", "shop", data, subject=order)


def cancelled(shop: str, order: str, who: Customer) -> CloudEvent[Any]:
    data = OrderCancelled(shop_id=shop, order_id=order, customer=who, reason="changed mind")
    return make_event("order.cancelled", "shop", data, subject=order)


def return_received(shop: str, order: str, who: Customer, return_id: str) -> CloudEvent[Any]:
    data = ReturnReceived(shop_id=shop, order_id=order, customer=who, return_id=return_id)
    return make_event("return.received", "shop", data, subject=order)


def repair_completed(shop: str, order: str, who: Customer, repair_id: str) -> CloudEvent[Any]:
    data = RepairCompleted(shop_id=shop, order_id=order, customer=who, repair_id=repair_id)
    return make_event("repair.completed", "shop", data, subject=order)


def ticket_created(
    shop: str,
    ticket: str,
    *,
    customer_id: str | None,
    email: str | None,
    order: str | None = None,
    channel: Channel = Channel.EMAIL,
    category: Category = Category.OTHER,
) -> CloudEvent[Any]:
    data = TicketCreated(
        shop_id=shop,
        ticket_id=ticket,
        order_id=order,
        customer_id=customer_id,
        channel=channel,
        category=category,
        priority=Priority.NORMAL,
        status=TicketStatus.OPEN,
        customer_email=email,
    )
    return make_event("ticket.created", "careloop/intake", data, subject=ticket)


def ticket_solved(
    shop: str,
    ticket: str,
    at: datetime,
    *,
    customer_id: str | None,
    email: str | None,
    channel: Channel = Channel.EMAIL,
    category: Category = Category.OTHER,
    locale: str = "en",
) -> CloudEvent[Any]:
    data = TicketSolved(
        shop_id=shop,
        ticket_id=ticket,
        customer_id=customer_id,
        channel=channel,
        category=category,
        priority=Priority.NORMAL,
        at=at,
        resolution_seconds=3600,
        first_contact_resolution=True,
        customer_email=email,
        customer_locale=locale,
    )
    return make_event("ticket.solved", "careloop/intake", data, subject=ticket)


async def send(settings: Settings, topic: topics.Topic, *events: CloudEvent[Any]) -> None:
    for event in events:
        await produce(settings, topic.name, event)


def clock_of(app: ServiceApp, start: datetime = T0) -> ManualClock:
    clock = ManualClock(start)
    app.runtime.clock = clock
    return clock


async def rows(app: ServiceApp, query: str, *args: Any) -> list[asyncpg.Record]:
    return await app.runtime.db.fetch(query, *args)


async def wait_rows(app: ServiceApp, query: str, *args: Any, count: int = 1) -> list[asyncpg.Record]:
    """Poll until `query` returns at least `count` rows."""

    async def enough() -> list[asyncpg.Record] | None:
        found = await rows(app, query, *args)
        return found if len(found) >= count else None

    result = await eventually(enough, timeout=30.0)
    assert result is not None
    return result


async def survey_events(settings: Settings, at_least: int) -> list[CloudEvent[Any]]:
    records = await read_topic(settings, topics.SURVEYS.name, at_least=at_least)
    return [decode_event(r.value or b"") for r in records]


async def invitation_link(settings: Settings, survey_id: str) -> str:
    """The personal link from the survey.invited event on Kafka (the token exists nowhere else)."""

    async def find() -> str | None:
        records = await read_topic(settings, topics.SURVEYS.name, at_least=1, timeout=2.0)
        for record in records:
            event = decode_event(record.value or b"")
            if event.type == "survey.invited" and event.data.survey_id == survey_id:
                return str(event.data.link)
        return None

    link = await eventually(find, timeout=30.0, interval=0.2)
    assert link is not None
    return link


async def invite(
    settings: Settings, app: ServiceApp, clock: ManualClock, shop: str, order: str, who: Customer
) -> tuple[str, str]:
    """Deliver an order, let the NPS delay pass, and return (survey id, token)."""
    await send(settings, topics.ORDERS, delivered(shop, order, who, clock.now()))
    await wait_rows(app, "SELECT 1 FROM invitations WHERE order_id = $1", order)
    clock.advance(timedelta(days=7, minutes=1))
    sent = await wait_rows(
        app, "SELECT survey_id FROM invitations WHERE order_id = $1 AND status = 'sent'", order
    )
    survey_id = sent[0]["survey_id"]
    link = await invitation_link(settings, survey_id)
    return survey_id, link.rsplit("/s/", 1)[1]
