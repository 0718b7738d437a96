"""The subscriptions API's routes: endpoints, secrets, deliveries and their attempts, replay, templates,
e-mail relays, and the shop's delivery report (its body in report_models.py).

The routes are module-level and hand over to use_cases; `build_api` assembles them, and the runtime's
dependencies (runtime.http_api: Db, CurrentShop, api_context) give them the database, the caller's
shop and the service's context.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response

from runtime.db import Database
from runtime.http_api import ApiError, CurrentCaller, CurrentShop, Db, api_context, make_api
from runtime.reports import ReportParams, report_response
from services.notify import email_use_cases, reports, use_cases
from services.notify.api_models import (
    CONFLICT,
    ERROR_RESPONSES,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatusName,
    EmailSendOut,
    EmailStatusName,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    InvalidRequest,
    NotFound,
    RelayIn,
    RelayOut,
    ReplayFailedRequest,
    ReplayResult,
    RotatedSecret,
    RotateRequest,
    TemplateIn,
    TemplateOut,
)
from services.notify.context import Context
from services.notify.privacy_api import router as privacy_router
from services.notify.report_models import DeliveryReportOut, InvalidPeriod

SERVICE = "notify"
DESCRIPTION = """Signed, durable webhooks for a shop's order-journey and care events (Standard Webhooks),
and e-mail replies to customers through the shop's own SMTP relay.
Authenticate with `Authorization: Bearer <shop API key>`."""


Ctx = Annotated[Context, Depends(api_context)]
EndpointId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
DeliveryId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
EventType = Annotated[str, Path(max_length=100)]
Language = Annotated[str, Path(max_length=10)]

router = APIRouter(responses=ERROR_RESPONSES)


# -- endpoints -----------------------------------------------------------------------------------
@router.post("/v1/endpoints", status_code=201, tags=["endpoints"])
async def create_endpoint(
    body: EndpointCreate, shop: CurrentShop, db: Db, ctx: Ctx, who: CurrentCaller
) -> EndpointCreated:
    return await use_cases.create_endpoint(db, ctx, shop, body, who)


@router.get("/v1/endpoints", tags=["endpoints"])
async def list_endpoints(shop: CurrentShop, db: Db) -> list[EndpointOut]:
    return await use_cases.list_endpoints(db, shop)


@router.get("/v1/endpoints/{endpoint_id}", tags=["endpoints"])
async def get_endpoint(endpoint_id: EndpointId, shop: CurrentShop, db: Db) -> EndpointOut:
    return await use_cases.get_endpoint(db, shop, endpoint_id)


@router.patch("/v1/endpoints/{endpoint_id}", tags=["endpoints"])
async def update_endpoint(
    endpoint_id: EndpointId, body: EndpointUpdate, shop: CurrentShop, db: Db, ctx: Ctx, who: CurrentCaller
) -> EndpointOut:
    return await use_cases.update_endpoint(db, ctx, shop, endpoint_id, body, who)


@router.delete("/v1/endpoints/{endpoint_id}", status_code=204, tags=["endpoints"])
async def delete_endpoint(endpoint_id: EndpointId, shop: CurrentShop, db: Db, who: CurrentCaller) -> Response:
    await use_cases.delete_endpoint(db, shop, endpoint_id, who)
    return Response(status_code=204)


@router.post("/v1/endpoints/{endpoint_id}/secret/rotate", tags=["endpoints"])
async def rotate_secret(
    endpoint_id: EndpointId, body: RotateRequest, shop: CurrentShop, db: Db, ctx: Ctx, who: CurrentCaller
) -> RotatedSecret:
    return await use_cases.rotate_secret(db, ctx, shop, endpoint_id, body.overlap_seconds, who)


# -- deliveries ----------------------------------------------------------------------------------
@router.get("/v1/endpoints/{endpoint_id}/deliveries", tags=["deliveries"])
async def list_deliveries(
    endpoint_id: EndpointId,
    shop: CurrentShop,
    db: Db,
    status: Annotated[DeliveryStatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DeliveryOut]:
    return await use_cases.list_deliveries(db, shop, endpoint_id, status, limit)


@router.get("/v1/deliveries/{delivery_id}", tags=["deliveries"])
async def get_delivery(delivery_id: DeliveryId, shop: CurrentShop, db: Db) -> DeliveryDetail:
    return await use_cases.get_delivery(db, shop, delivery_id)


@router.post("/v1/deliveries/{delivery_id}/replay", status_code=202, tags=["deliveries"], responses=CONFLICT)
async def replay_delivery(
    delivery_id: DeliveryId, shop: CurrentShop, db: Db, ctx: Ctx, who: CurrentCaller
) -> DeliveryOut:
    return await use_cases.replay_delivery(db, ctx, shop, delivery_id, who)


@router.post("/v1/endpoints/{endpoint_id}/replay-failed", status_code=202, tags=["deliveries"])
async def replay_failed(
    endpoint_id: EndpointId,
    body: ReplayFailedRequest,
    shop: CurrentShop,
    db: Db,
    ctx: Ctx,
    who: CurrentCaller,
) -> ReplayResult:
    return await use_cases.replay_failed(db, ctx, shop, endpoint_id, body.since, who)


# -- templates -----------------------------------------------------------------------------------
@router.get("/v1/templates", tags=["templates"])
async def list_templates(shop: CurrentShop, db: Db) -> list[TemplateOut]:
    return await use_cases.list_templates(db, shop)


@router.put("/v1/templates/{event_type}/{language}", tags=["templates"])
async def put_template(
    event_type: EventType,
    language: Language,
    body: TemplateIn,
    shop: CurrentShop,
    db: Db,
    ctx: Ctx,
    who: CurrentCaller,
) -> TemplateOut:
    return await use_cases.put_template(db, ctx, shop, event_type, language, body, who)


@router.delete("/v1/templates/{event_type}/{language}", status_code=204, tags=["templates"])
async def delete_template(
    event_type: EventType, language: Language, shop: CurrentShop, db: Db, who: CurrentCaller
) -> Response:
    await use_cases.delete_template(db, shop, event_type, language, who)
    return Response(status_code=204)


# -- e-mail replies ------------------------------------------------------------------------------
@router.put("/v1/email/relay", tags=["email"])
async def put_relay(body: RelayIn, shop: CurrentShop, db: Db, ctx: Ctx, who: CurrentCaller) -> RelayOut:
    """Set the shop's SMTP relay: replies to customers who wrote by e-mail go out through it."""
    return await email_use_cases.put_relay(db, ctx, shop, body, who)


@router.get("/v1/email/relay", tags=["email"])
async def get_relay(shop: CurrentShop, db: Db) -> RelayOut:
    """The shop's SMTP relay (never its password)."""
    return await email_use_cases.get_relay(db, shop)


@router.delete("/v1/email/relay", status_code=204, tags=["email"])
async def delete_relay(shop: CurrentShop, db: Db, who: CurrentCaller) -> Response:
    """No more e-mail replies through notify; those queued are given up when their turn comes."""
    await email_use_cases.delete_relay(db, shop, who)
    return Response(status_code=204)


@router.get("/v1/email/sends", tags=["email"])
async def list_sends(
    shop: CurrentShop,
    db: Db,
    status: Annotated[EmailStatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EmailSendOut]:
    """The shop's reply e-mails, newest first: sent, waiting for a retry or dead with the reason."""
    return await email_use_cases.list_sends(db, shop, status, limit)


# -- the shop's delivery report -------------------------------------------------------------------
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the API key's own shop")]


@router.get(
    "/v1/reports/deliveries",
    tags=["reports"],
    summary="Delivery report: deliveries and attempts by outcome, latency, endpoint health",
    responses={
        200: {"model": DeliveryReportOut},
        404: {"model": NotFound, "description": "shop= names another shop"},
        422: {"model": InvalidRequest | InvalidPeriod, "description": "an invalid parameter or period"},
    },
)
async def deliveries_report(
    shop: CurrentShop, db: Db, ctx: Ctx, query: ReportParams, shop_id: ShopQuery = None
) -> Response:
    """What became of the webhook deliveries the shop's endpoints queued in the period (`from`/`to` in
    the shop's time zone), with a trend per day, week or month when `granularity` is given; CSV with
    `Accept: text/csv` or `format=csv`."""
    if shop_id is not None and shop_id != shop.id:
        # Another shop's id: answer as if it did not exist, revealing nothing about it.
        raise ApiError(404, "not_found", f"no shop {shop_id!r} for this API key")
    now = ctx.now()
    period = query.period(shop.timezone, now)
    async with db.pool.acquire() as conn:
        result = await reports.report(conn, shop.id, period, ctx.config.outcome_policy().breaker, now)
    granularity = period.granularity.value if period.granularity else None
    out = DeliveryReportOut.of(shop.id, period.since, period.until, granularity, result)
    return report_response(query, out.model_dump(mode="json", by_alias=True), out.csv_rows(), out.CSV_COLUMNS)


def build_api(db: Database, ctx: Context) -> FastAPI:
    api = make_api(SERVICE, "CareLoop notify API", DESCRIPTION, db=db, shops=ctx.shops, context=ctx)
    api.include_router(router)
    api.include_router(privacy_router)
    return api
