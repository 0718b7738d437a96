"""The shop's retention of what notify keeps for replay (docs/privacy.md), with the shop's key:
`GET`/`PUT /v1/privacy/retention`, after how many days the bodies of finished deliveries and reply
e-mails are purged. (Privacy requests themselves are intake's routes; notify answers them on
privacy.events.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from runtime.http_api import CurrentCaller, CurrentShop, Db, api_context
from runtime.metrics import counted_on_commit
from services.notify.api_models import ERROR_RESPONSES
from services.notify.context import Context
from services.notify.repository import privacy

Ctx = Annotated[Context, Depends(api_context)]

router = APIRouter(tags=["privacy"], responses=ERROR_RESPONSES)


class Retention(BaseModel):
    # what GET shows may be sent back as it is: `in_force_days` is read-only and left out
    model_config = ConfigDict(extra="ignore")

    delivery_body_days: int | None = Field(default=None, ge=1, le=36500)
    """The bodies of finished deliveries and reply e-mails are purged this many days after they
    finished (null: the service's setting applies). A replay of a purged delivery sends its stub."""


class RetentionView(Retention):
    in_force_days: int | None
    """What applies to the shop: its own setting, else the service's (null: kept with their rows)."""


@router.get("/v1/privacy/retention", response_model=RetentionView)
async def get_retention(shop: CurrentShop, db: Db, ctx: Ctx) -> RetentionView:
    async with db.pool.acquire() as conn:
        own = await privacy.delivery_body_days(conn, shop.id)
    return RetentionView(delivery_body_days=own, in_force_days=own or ctx.config.delivery_body_retention_days)


@router.put("/v1/privacy/retention", response_model=RetentionView)
async def put_retention(
    body: Retention, shop: CurrentShop, caller: CurrentCaller, db: Db, ctx: Ctx
) -> RetentionView:
    """Set (or with null, drop) the shop's own retention of delivery bodies; the sweep applies it."""
    with counted_on_commit():
        async with db.transaction() as conn:
            await privacy.put_delivery_body_days(conn, shop.id, body.delivery_body_days, ctx.now())
            await caller.record(conn, "privacy.retention_set", f"shop:{shop.id}")
    days = body.delivery_body_days or ctx.config.delivery_body_retention_days
    return RetentionView(delivery_body_days=body.delivery_body_days, in_force_days=days)
