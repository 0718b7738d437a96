"""Builders for the automatic-answer and housekeeping tests: order journeys on orders.events, the
shop's settings through the API, and a housekeeping run on the test's clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.envelope import CloudEvent
from schemas.registry import decode_event, make_event
from schemas.topics import ORDERS, REPLIES, TICKETS
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderDelayed, OrderLine, OrderShipped
from services.intake import sweeps
from services.intake.context import Context
from tests.intake.helpers import Intake, fetchval, metric_value
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.wait import eventually

TRACKING_URL = "https://tracking.example/TRK-77"


def customer(email: str = "anna@example.com", locale: str = "en") -> Customer:
    return Customer(id="c-77", email=email, name="Anna", locale=locale)


async def ship(
    intake: Intake,
    order_id: str,
    *,
    shop_id: str = SHOP_A,
    who: Customer | None = None,
    promised: date = date(2026, 1, 9),
    delay: str | None = None,
) -> None:
    """The order created and shipped (and delayed, if `delay`), known to intake when this returns."""
    who = who or customer()
    at = intake.clock.now() - timedelta(days=2)
    events = [
        make_event(
            "order.created",
            "shop",
            OrderCreated(
                shop_id=shop_id,
                order_id=order_id,
                customer=who,
                total=Decimal("129.00"),
                currency="PLN",
                lines=[OrderLine(sku="K-1", name="Kettle", quantity=1, unit_price=Decimal("129.00"))],
            ),
            subject=order_id,
            time=at,
        ),
        make_event(
            "order.shipped",
            "shop",
            OrderShipped.model_validate(
                {
                    "shop_id": shop_id,
                    "order_id": order_id,
                    "customer": who,
                    "carrier": "InPost",
                    "tracking_number": "TRK-77",
                    "tracking_url": TRACKING_URL,
                    "promised_delivery_date": promised,
                }
            ),
            subject=order_id,
            time=at + timedelta(hours=1),
        ),
    ]
    if delay is not None:
        delayed = OrderDelayed(
            shop_id=shop_id,
            order_id=order_id,
            customer=who,
            reason=delay,
            new_promised_delivery_date=promised + timedelta(days=3),
        )
        events.append(
            make_event("order.delayed", "shop", delayed, subject=order_id, time=at + timedelta(days=1))
        )
    for event in events:
        await produce(intake.settings, ORDERS.name, event)
    wanted = "delayed_at" if delay is not None else "tracking_url"

    async def known() -> bool:
        query = f"SELECT {wanted} IS NOT NULL FROM orders WHERE shop_id = $1 AND order_id = $2"  # noqa: S608
        return bool(await fetchval(intake, query, shop_id, order_id))

    await eventually(known, timeout=30)


async def answers_on(intake: Intake, key: str = KEY_A, **settings: Any) -> None:
    body = {"enabled": True, **settings}
    response = await intake.client.put("/v1/settings/automatic-answers", json=body, headers=auth(key))
    assert response.status_code == 200, response.text


async def housekeeping_settings(intake: Intake, key: str = KEY_A, **settings: Any) -> None:
    response = await intake.client.put("/v1/settings/housekeeping", json=settings, headers=auth(key))
    assert response.status_code == 200, response.text


def context(intake: Intake) -> Context:
    """The service's context (its handlers and sweeps read the test's clock through it)."""
    ctx: Context = intake.app.runtime.api.state.context  # type: ignore[union-attr]
    return ctx


async def sweep(intake: Intake) -> None:
    """One housekeeping run at the test clock's time, as the service's loop runs it."""
    await sweeps.housekeeping(intake.app.runtime.db, context(intake))


async def replied(intake: Intake, ticket_id: str, at_least: int = 1) -> list[CloudEvent[Any]]:
    """The ticket.replied events of the ticket on tickets.events, once `at_least` are there."""

    async def found() -> list[CloudEvent[Any]]:
        records = await read_topic(intake.settings, TICKETS.name, at_least=1, timeout=3.0)
        events = [decode_event(r.value) for r in records if r.key == ticket_id.encode() and r.value]
        hits = [e for e in events if e.type == "ticket.replied"]
        return hits if len(hits) >= at_least else []

    return await eventually(found, timeout=30)


async def requested(intake: Intake, message_id: str) -> CloudEvent[Any]:
    """The reply.requested of the message on support.replies."""

    async def found() -> CloudEvent[Any] | None:
        for record in await read_topic(intake.settings, REPLIES.name, at_least=1, timeout=3.0):
            event = decode_event(record.value)
            if event.data.message_id == message_id:
                return event
        return None

    event = await eventually(found, timeout=30)
    assert event is not None
    return event


async def ticket_event(intake: Intake, ticket_id: str, event_type: str) -> CloudEvent[Any]:
    async def found() -> CloudEvent[Any] | None:
        records = await read_topic(intake.settings, TICKETS.name, at_least=1, timeout=3.0)
        for record in records:
            if record.key == ticket_id.encode() and record.value:
                event = decode_event(record.value)
                if event.type == event_type:
                    return event
        return None

    event = await eventually(found, timeout=30)
    assert event is not None
    return event


async def metric(intake: Intake, name: str, **labels: str) -> float:
    text = (await intake.client.get("/metrics")).text
    return metric_value(text, name, **labels)


def later(intake: Intake, **delta: float) -> datetime:
    return intake.clock.advance(timedelta(**delta))
