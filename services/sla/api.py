"""HTTP API: a shop's policies and calendar (read and replace), a ticket's clocks, and the shop's SLA
report (api_models.py has its body).

The routes are module-level; `build_api` assembles them, and the runtime's dependencies
(runtime.http_api: Db, CurrentShop, api_context) give them the database, the caller's shop and the
service's context.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Response
from pydantic import BaseModel

from runtime.db import Database
from runtime.http_api import ApiError, CurrentCaller, CurrentShop, Db, api_context, make_api
from runtime.reports import ReportParams, report_response
from services.sla import reports
from services.sla import repository as repo
from services.sla.api_models import SlaReportOut
from services.sla.context import Context
from services.sla.domain.calendar_document import CalendarDocument
from services.sla.domain.clocks import StageKind
from services.sla.domain.policies import PolicySet


class StageView(BaseModel):
    kind: StageKind
    share_of_target: float
    level: int | None
    escalate_to: str | None
    due_at: datetime | None
    fired: bool


class ClockView(BaseModel):
    clock_id: str
    metric: str
    policy_id: str
    status: str
    outcome: str | None
    business_hours: bool
    target_seconds: float
    started_at: datetime
    deadline: datetime | None
    """The breach instant while running; null while paused or stopped."""
    elapsed_seconds: float
    remaining_seconds: float
    breached_at: datetime | None
    stopped_at: datetime | None
    stages: list[StageView]


class TicketClocks(BaseModel):
    ticket_id: str
    clocks: list[ClockView]


def _view(record: repo.ClockRecord, now: datetime, calendar: Any) -> ClockView:
    clock = record.clock
    elapsed = clock.elapsed_at(now, calendar)
    stages = [
        StageView(
            kind=stage.kind,
            share_of_target=stage.share,
            level=stage.level or None,
            escalate_to=stage.escalate_to or None,
            due_at=clock.stage_at[i] if clock.stage_at else None,
            fired=i < clock.stages_done,
        )
        for i, stage in enumerate(clock.stages)
    ]
    return ClockView(
        clock_id=clock.id,
        metric=clock.metric.value,
        policy_id=record.policy_id,
        status=clock.status.value,
        outcome=clock.outcome.value if clock.outcome else None,
        business_hours=clock.business_hours,
        target_seconds=clock.target.total_seconds(),
        started_at=clock.started_at,
        deadline=clock.deadline,
        elapsed_seconds=elapsed.total_seconds(),
        remaining_seconds=(clock.target - elapsed).total_seconds(),
        breached_at=clock.breached_at,
        stopped_at=clock.stopped_at,
        stages=stages,
    )


SERVICE = "sla"


Ctx = Annotated[Context, Depends(api_context)]

router = APIRouter(prefix="/v1/sla")


@router.get("/policies", response_model=PolicySet)
async def get_policies(shop: CurrentShop, db: Db) -> PolicySet:
    async with db.pool.acquire() as conn:
        return await repo.load_policies(conn, shop.id)


@router.put("/policies", response_model=PolicySet)
async def put_policies(policies: PolicySet, shop: CurrentShop, db: Db, who: CurrentCaller) -> PolicySet:
    """Replace the shop's policies. Running clocks keep the targets they started with."""
    async with db.transaction() as conn:
        await repo.save_policies(conn, shop.id, policies)
        await who.record(conn, "sla_policies.update", f"shop:{shop.id}")
    return policies


@router.get("/calendar", response_model=CalendarDocument)
async def get_calendar(shop: CurrentShop, db: Db) -> CalendarDocument:
    async with db.pool.acquire() as conn:
        return await repo.load_calendar(conn, shop.id, shop.timezone)


@router.put("/calendar", response_model=CalendarDocument)
async def put_calendar(
    calendar: CalendarDocument, shop: CurrentShop, db: Db, who: CurrentCaller
) -> CalendarDocument:
    """Replace the shop's business calendar; deadlines computed from now on use it."""
    async with db.transaction() as conn:
        await repo.save_calendar(conn, shop.id, calendar)
        await who.record(conn, "sla_calendar.update", f"shop:{shop.id}")
    return calendar


@router.get("/tickets/{ticket_id}/clocks", response_model=TicketClocks)
async def get_ticket_clocks(ticket_id: str, shop: CurrentShop, db: Db, ctx: Ctx) -> TicketClocks:
    async with db.pool.acquire() as conn:
        records = await repo.ticket_clocks(conn, shop.id, ticket_id)
        if not records:
            raise ApiError(404, "not_found", f"no SLA clocks for ticket {ticket_id}")
        calendar = (await repo.load_calendar(conn, shop.id, shop.timezone)).to_calendar()
    now = ctx.now()
    return TicketClocks(ticket_id=ticket_id, clocks=[_view(r, now, calendar) for r in records])


reports_router = APIRouter(tags=["reports"])
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the API key's own shop")]


@reports_router.get(
    "/v1/reports/sla",
    summary="SLA report: compliance, breaches, time to breach, escalations, promises",
    responses={200: {"model": SlaReportOut}, 404: {"description": "shop= names another shop"}},
)
async def sla_report(
    shop: CurrentShop, db: Db, ctx: Ctx, query: ReportParams, shop_id: ShopQuery = None
) -> Response:
    """What the shop's SLA clocks and order promises decided in the period (`from`/`to` in the shop's
    time zone), with a trend per day, week or month when `granularity` is given; CSV with
    `Accept: text/csv` or `format=csv`."""
    if shop_id is not None and shop_id != shop.id:
        # Another shop's id: answer as if it did not exist, revealing nothing about it.
        raise ApiError(404, "unknown_shop", f"no shop {shop_id!r} for this API key")
    period = query.period(shop.timezone, ctx.now())
    async with db.pool.acquire() as conn:
        result = await reports.report(conn, shop.id, period)
    granularity = period.granularity.value if period.granularity else None
    out = SlaReportOut.of(shop.id, period.since, period.until, granularity, result)
    return report_response(query, out.model_dump(mode="json", by_alias=True), out.csv_rows(), out.CSV_COLUMNS)


def build_api(db: Database, ctx: Context) -> FastAPI:
    api = make_api(
        SERVICE,
        "CareLoop SLA",
        "Per-shop SLA policies and business calendars, the live clocks of each ticket, and the shop's SLA "
        "report.",
        db=db,
        shops=ctx.shops,
        context=ctx,
    )
    api.include_router(router)
    api.include_router(reports_router)
    return api
