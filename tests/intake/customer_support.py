"""Builders for the Customer 360 tests: order journeys and survey answers on the real Kafka, each known
to intake when the builder returns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from schemas.registry import make_event
from schemas.topics import ORDERS, SURVEYS
from schemas.v1.common import Customer
from schemas.v1.orders import ORDER_EVENT_TYPES, OrderCreated
from schemas.v1.surveys import SurveyAnswered, SurveyDetractor, SurveyKind
from tests.intake.helpers import Intake, fetchval
from tests.support.kafka import produce
from tests.support.shops import SHOP_A
from tests.support.wait import eventually


def day(month: int, day_: int, year: int = 2025) -> datetime:
    return datetime(year, month, day_, 10, 0, tzinfo=UTC)


async def order(
    intake: Intake,
    order_id: str,
    who: Customer,
    at: datetime,
    total: str,
    currency: str,
    *,
    shop_id: str = SHOP_A,
) -> None:
    """order.created with its total, known to intake when this returns."""
    created = OrderCreated(
        shop_id=shop_id, order_id=order_id, customer=who, total=Decimal(total), currency=currency
    )
    await produce(
        intake.settings, ORDERS.name, make_event("order.created", "shop", created, order_id, time=at)
    )
    await _known(intake, shop_id, order_id, "total IS NOT NULL")


async def step(
    intake: Intake,
    event_type: str,
    order_id: str,
    who: Customer,
    at: datetime,
    *,
    shop_id: str = SHOP_A,
    **data: Any,
) -> None:
    """A later step of the order (its status), known to intake when this returns."""
    model = ORDER_EVENT_TYPES[event_type]
    body = model.model_validate({"shop_id": shop_id, "order_id": order_id, "customer": who, **data})
    await produce(intake.settings, ORDERS.name, make_event(event_type, "shop", body, order_id, time=at))
    status = event_type.split(".")[-1] if event_type.startswith("order.") else None
    wanted = {
        "return.requested": "return_requested",
        "repair.received": "repair_received",
        "refund.issued": "refunded",
    }.get(event_type, status)
    await _known(intake, shop_id, order_id, f"status = '{wanted}'")


async def _known(intake: Intake, shop_id: str, order_id: str, condition: str) -> None:
    query = f"SELECT {condition} FROM orders WHERE shop_id = $1 AND order_id = $2"  # noqa: S608

    async def known() -> bool:
        return bool(await fetchval(intake, query, shop_id, order_id))

    await eventually(known, timeout=30)


async def answered(
    intake: Intake,
    survey_id: str,
    kind: SurveyKind,
    score: int,
    at: datetime,
    *,
    ticket_id: str | None = None,
    order_id: str | None = None,
    unhappy_customer: Customer | None = None,
    shop_id: str = SHOP_A,
) -> None:
    """survey.answered (and survey.detractor for `unhappy_customer`), kept by intake when this returns."""
    events: list[tuple[str, BaseModel]] = [
        (
            "survey.answered",
            SurveyAnswered(
                shop_id=shop_id,
                survey_id=survey_id,
                kind=kind,
                score=score,
                at=at,
                ticket_id=ticket_id,
                order_id=order_id,
            ),
        )
    ]
    if unhappy_customer is not None:
        detractor = SurveyDetractor(
            shop_id=shop_id,
            survey_id=survey_id,
            kind=kind,
            score=score,
            customer=unhappy_customer,
            ticket_id=ticket_id,
            order_id=order_id,
            at=at,
        )
        events.append(("survey.detractor", detractor))
    for event_type, data in events:
        await produce(
            intake.settings, SURVEYS.name, make_event(event_type, "survey", data, survey_id, time=at)
        )
    query = "SELECT detractor = $3 FROM survey_answers WHERE shop_id = $1 AND survey_id = $2"

    async def kept() -> bool:
        return bool(await fetchval(intake, query, shop_id, survey_id, unhappy_customer is not None))

    await eventually(kept, timeout=30)
