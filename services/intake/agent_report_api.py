"""`GET /v1/reports/agents` (docs/intake.md "The agent report"): first response and resolution
times by agent and by team over a period (`from`/`to` in the shop's time zone); JSON, or CSV with
`Accept: text/csv` or `?format=csv`. CSAT by agent and team is in survey's CSAT report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from runtime.http_api import ApiError, Db, api_context
from runtime.reports import ReportParams, report_response

from .api_models import Problem
from .auth import CurrentCaller
from .context import Context
from .domain.agent_report import CSV_COLUMNS, Line, Timing, build_report, csv_rows
from .repository import agent_report, agents

router = APIRouter(tags=["reports"])
ContextDep = Annotated[Context, Depends(api_context)]
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the caller's own shop")]


class TimingOut(BaseModel):
    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, timing: Timing) -> TimingOut:
        return cls(
            count=timing.count,
            mean_seconds=timing.mean_seconds,
            p50_seconds=timing.p50_seconds,
            p90_seconds=timing.p90_seconds,
        )


class LineOut(BaseModel):
    id: str = Field(description="the agent's or team's id; none: without one")
    name: str | None
    first_response: TimingOut = Field(description="first responses written in the period")
    resolution: TimingOut = Field(description="tickets solved in the period, from their creation")

    @classmethod
    def of(cls, line: Line) -> LineOut:
        return cls(
            id=line.key,
            name=line.name,
            first_response=TimingOut.of(line.first_response),
            resolution=TimingOut.of(line.resolution),
        )


class AgentReportOut(BaseModel):
    shop_id: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    by_agent: list[LineOut]
    by_team: list[LineOut]


ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": AgentReportOut},
    401: {"model": Problem, "description": "missing or unknown API key or agent token"},
    404: {"model": Problem, "description": "shop= names another shop"},
    422: {"model": Problem, "description": "from/to unreadable or empty"},
}


@router.get(
    "/v1/reports/agents",
    summary="Agent report: first response and resolution times by agent and by team",
    responses=ERRORS,
)
async def agent_report_route(
    caller: CurrentCaller, db: Db, query: ReportParams, ctx: ContextDep, shop_id: ShopQuery = None
) -> Response:
    """By agent: the first responses each wrote, the tickets assigned to them that were solved; by
    team: the same by the ticket's team. Count, mean, p50 and p90 of the seconds from the ticket's
    creation; `none` gathers what no agent (or team) did. A trend (`granularity`) is not offered."""
    shop = caller.shop
    if shop_id is not None and shop_id != shop.id:
        raise ApiError(404, "unknown_shop", f"no shop {shop_id!r} for this credential")
    period = query.period(shop.timezone, ctx.now())
    async with db.pool.acquire() as conn:
        grouped = await agent_report.timings(conn, shop.id, period)
        people = await agents.list_agents(conn, shop.id, inactive=True)
        teams = {t.id: t.name for t in await agents.list_teams(conn, shop.id)}
    active = {a.id: a.name for a in people if a.active}
    former = {a.id: a.name for a in people if not a.active}
    report = build_report(grouped, active, teams, former)
    out = AgentReportOut(
        shop_id=shop.id,
        start=period.since,
        end=period.until,
        by_agent=[LineOut.of(line) for line in report.by_agent],
        by_team=[LineOut.of(line) for line in report.by_team],
    )
    return report_response(query, out.model_dump(mode="json", by_alias=True), csv_rows(report), CSV_COLUMNS)
