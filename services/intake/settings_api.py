"""A shop's settings of automatic answers and housekeeping, and how its "where is my order?" contacts
went (docs/intake.md, *Automatic answers* and *Housekeeping*)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from runtime.db import Connection, Database
from runtime.http_api import ApiError, CurrentShop, Db, api_context
from runtime.metrics import counted_on_commit

from .api_models import Problem
from .context import Context
from .domain.settings import AutomaticAnswers, Housekeeping
from .repository import shop_settings, wismo

ContextDep = Annotated[Context, Depends(api_context)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "no such route"},
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
