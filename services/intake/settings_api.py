"""A shop's settings of automatic answers and housekeeping, what intake knows of an order (what an
automatic answer is written from), and how the shop's "where is my order?" contacts went
(docs/intake.md, *Automatic answers* and *Housekeeping*)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from runtime.db import Connection, Database
from runtime.http_api import ApiError, CurrentShop, Db, api_context
from runtime.metrics import counted_on_commit

from .api_models import Problem
from .context import Context
from .domain.orders import OrderContext
from .domain.settings import AutomaticAnswers, Housekeeping
from .repository import orders, shop_settings, wismo

ContextDep = Annotated[Context, Depends(api_context)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such order in the caller's shop (the orders route)"},
    422: {"model": Problem, "description": "invalid settings (a template that does not compile, times)"},
}

router = APIRouter(tags=["settings"])


@asynccontextmanager
async def _unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with counted_on_commit():
        async with db.transaction() as conn:
            yield conn


@router.get("/v1/settings/automatic-answers", response_model=AutomaticAnswers, responses=ERRORS)
async def get_automatic_answers(shop: CurrentShop, db: Db) -> AutomaticAnswers:
    """The shop's automatic answers to "where is my order?" (off unless turned on)."""
    async with db.pool.acquire() as conn:
        return await shop_settings.automatic_answers(conn, shop.id)


@router.put("/v1/settings/automatic-answers", response_model=AutomaticAnswers, responses=ERRORS)
async def put_automatic_answers(
    settings: AutomaticAnswers, shop: CurrentShop, db: Db, ctx: ContextDep
) -> AutomaticAnswers:
    """Replace them; they apply to contacts from now on (an answer already sent keeps its time)."""
    async with _unit_of_work(db) as conn:
        await shop_settings.save(conn, shop.id, shop_settings.AUTOMATIC_ANSWERS, settings, ctx.now())
    return settings


@router.get("/v1/settings/housekeeping", response_model=Housekeeping, responses=ERRORS)
async def get_housekeeping(shop: CurrentShop, db: Db) -> Housekeeping:
    """When the shop's solved tickets close and its pending tickets are reminded and solved."""
    async with db.pool.acquire() as conn:
        return (await shop_settings.housekeeping(conn, [shop.id]))[shop.id]


@router.put("/v1/settings/housekeeping", response_model=Housekeeping, responses=ERRORS)
async def put_housekeeping(
    settings: Housekeeping, shop: CurrentShop, db: Db, ctx: ContextDep
) -> Housekeeping:
    """Replace them; the next sweep applies them to every ticket of the shop."""
    async with _unit_of_work(db) as conn:
        await shop_settings.save(conn, shop.id, shop_settings.HOUSEKEEPING, settings, ctx.now())
    return settings


class AnswersSummary(BaseModel):
    since: datetime
    until: datetime
    contacts: int = Field(description="new tickets asking where a known order of the customer's is")
    answered: int = Field(description="of them, answered automatically")
    deflected: int = Field(description="answered, and solved because the customer did not write back")
    came_back: int = Field(description="answered, and the customer wrote back (an agent took over)")
    after_notice: int = Field(description="contacts about an order the shop had told of a delay before")
    delayed_orders: int = Field(description="orders delayed (order.delayed) in the period")
    delayed_orders_asked_about: int = Field(
        description="of them, orders the customer still asked about after the delay"
    )


@router.get("/v1/automatic-answers/summary", response_model=AnswersSummary, responses=ERRORS)
async def answers_summary(
    shop: CurrentShop,
    db: Db,
    ctx: ContextDep,
    since: Annotated[AwareDatetime | None, Query(description="default: 30 days before `until`")] = None,
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> AnswersSummary:
    """How the shop's "where is my order?" contacts of a period went: how many were answered
    automatically, deflected or came back, and how many came although the shop had told the customer
    of the delay (a delayed order nobody asked about afterwards is a contact the notice avoided)."""
    end = until or ctx.now()
    start = since or end - timedelta(days=30)
    if start >= end:
        raise ApiError(422, "unprocessable", "since must be before until")
    async with db.pool.acquire() as conn:
        found = await wismo.summary(conn, shop.id, start, end)
    return AnswersSummary(since=start, until=end, **asdict(found))


class ShipmentView(BaseModel):
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime | None


class LineView(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


class OrderDetail(BaseModel):
    """An order as intake knows it from orders.events: what an automatic answer is written from."""

    order_id: str
    status: str = Field(description="the latest step's status")
    status_at: datetime
    late: bool = Field(description="in transit past its promised delivery date (answered as delayed)")
    customer_id: str
    customer_email: str | None
    customer_locale: str
    promised_delivery_date: date | None
    shipment: ShipmentView | None = Field(description="from the latest order.shipped")
    delay_reason: str | None = Field(description="the last order.delayed's reason")
    delayed_at: datetime | None
    total: Decimal | None = Field(description="from order.created, with currency and lines")
    currency: str | None
    lines: list[LineView]


def _order_view(order_id: str, order: OrderContext, today: date) -> OrderDetail:
    shipment, contents = order.shipment, order.contents
    return OrderDetail(
        order_id=order_id,
        status=order.status.value,
        status_at=order.status_at,
        late=order.effective_status(today) is not order.status,
        customer_id=order.customer_id,
        customer_email=order.customer_email,
        customer_locale=order.customer_locale,
        promised_delivery_date=order.promised_delivery_date,
        shipment=ShipmentView(
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            shipped_at=order.shipped_at,
        )
        if shipment is not None
        else None,
        delay_reason=order.delay_reason,
        delayed_at=order.delayed_at,
        total=contents.total if contents else None,
        currency=contents.currency if contents else None,
        lines=[
            LineView(sku=i.sku, name=i.name, quantity=i.quantity, unit_price=i.unit_price)
            for i in (contents.lines if contents else ())
        ],
    )


@router.get("/v1/orders/{order_id}", response_model=OrderDetail, responses=ERRORS)
async def get_order(
    order_id: Annotated[str, Path(max_length=128)], shop: CurrentShop, db: Db, ctx: ContextDep
) -> OrderDetail:
    """What intake knows of one of the shop's orders (404 until an event of it arrived)."""
    async with db.pool.acquire() as conn:
        order = await orders.order_of(conn, shop.id, order_id)
    if order is None:
        raise ApiError(404, "not_found", f"no order {order_id!r} known in this shop")
    return _order_view(order_id, order, ctx.now().date())
