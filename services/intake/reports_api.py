"""The shop's intake report, `GET /v1/reports/intake` (docs/intake.md "The intake report"): contacts
and tickets by channel and category, first response and resolution times (p50/p90), FCR, repeat
contacts, reopen rate, automatic answers and deflection, the backlog by age; a trend per day, week or
month; JSON, or CSV with `Accept: text/csv` or `?format=csv`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from runtime.http_api import ApiError, CurrentShop, Db, api_context
from runtime.reports import Granularity, Period, ReportParams, buckets, report_response

from .api_models import Problem
from .context import Context
from .domain.reports import AGE_BUCKETS, Figures, IntakeReport, build_report
from .repository import reports

router = APIRouter(tags=["reports"])
ContextDep = Annotated[Context, Depends(api_context)]
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the API key's own shop")]


class TimingOut(BaseModel):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None


class ResolutionOut(BaseModel):
    solved: int = Field(description="tickets solved in the period (their last solve)")
    p50_seconds: float | None
    p90_seconds: float | None
    fcr: int = Field(description="of them, solved with one public reply and never reopened")
    fcr_percent: float | None
    reopened: int = Field(description="of them, reopened at least once before")
    reopen_rate_percent: float | None


class AutomaticOut(BaseModel):
    questions: int = Field(description='"where is my order?" questions asked in the period')
    answered: int = Field(description="of them, answered automatically")
    deflected: int = Field(description="answers that settled the matter (no word back)")
    came_back: int = Field(description="answers the customer wrote back to")
    deflection_percent: float | None = Field(description="deflected of answered")


class FiguresOut(BaseModel):
    contacts: int = Field(description="customers' messages received")
    tickets: int = Field(description="tickets opened")
    repeat_contacts: int = Field(description="tickets opened that repeat an earlier one (same order)")
    repeat_percent: float | None
    first_response: TimingOut = Field(description="first responses written, seconds from the opening")
    resolution: ResolutionOut
    automatic_answers: AutomaticOut

    @classmethod
    def of(cls, figures: Figures) -> FiguresOut:
        return cls(
            contacts=figures.contacts,
            tickets=figures.tickets,
            repeat_contacts=figures.repeat_contacts,
            repeat_percent=figures.repeat_percent,
            first_response=TimingOut(**asdict(figures.first_response)),
            resolution=ResolutionOut(**asdict(figures.resolution)),
            automatic_answers=AutomaticOut(**asdict(figures.automatic)),
        )

    def cells(self) -> dict[str, object]:
        """The figures as CSV cells (FIGURE_COLUMNS)."""
        r, a, f = self.resolution, self.automatic_answers, self.first_response
        return {
            "contacts": self.contacts,
            "tickets": self.tickets,
            "repeat_contacts": self.repeat_contacts,
            "repeat_percent": self.repeat_percent,
            "first_responses": f.count,
            "first_response_p50_seconds": f.p50_seconds,
            "first_response_p90_seconds": f.p90_seconds,
            "solved": r.solved,
            "resolution_p50_seconds": r.p50_seconds,
            "resolution_p90_seconds": r.p90_seconds,
            "fcr": r.fcr,
            "fcr_percent": r.fcr_percent,
            "reopened": r.reopened,
            "reopen_rate_percent": r.reopen_rate_percent,
            "automatic_questions": a.questions,
            "automatic_answers": a.answered,
            "deflected": a.deflected,
            "came_back": a.came_back,
            "deflection_percent": a.deflection_percent,
        }


FIGURE_COLUMNS: tuple[str, ...] = (
    "contacts",
    "tickets",
    "repeat_contacts",
    "repeat_percent",
    "first_responses",
    "first_response_p50_seconds",
    "first_response_p90_seconds",
    "solved",
    "resolution_p50_seconds",
    "resolution_p90_seconds",
    "fcr",
    "fcr_percent",
    "reopened",
    "reopen_rate_percent",
    "automatic_questions",
    "automatic_answers",
    "deflected",
    "came_back",
    "deflection_percent",
)


class BacklogOut(BaseModel):
    at: datetime = Field(description="the period's end")
    total: int
    by_age: dict[str, int] = Field(description=f"open tickets by age at `at`: {', '.join(AGE_BUCKETS)}")


class ByDimension(BaseModel):
    by_channel: dict[str, int]
    by_category: dict[str, int]


class IntakeReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    shop_id: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    overall: FiguresOut
    contacts: ByDimension
    tickets: ByDimension
    backlog: BacklogOut
    granularity: Granularity | None
    trend: dict[date, FiguresOut]

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = ("dimension", "key", *FIGURE_COLUMNS, "backlog")

    def csv_rows(self) -> list[dict[str, object]]:
        """One row per figure set: overall, each channel and category (its contacts and tickets),
        each backlog age, each trend bucket; a row leaves the columns that do not apply to it empty."""
        rows: list[dict[str, object]] = [{"dimension": "overall", "key": "all", **self.overall.cells()}]
        for dimension, contacts, tickets in (
            ("channel", self.contacts.by_channel, self.tickets.by_channel),
            ("category", self.contacts.by_category, self.tickets.by_category),
        ):
            rows += [
                {
                    "dimension": dimension,
                    "key": k,
                    "contacts": contacts.get(k, 0),
                    "tickets": tickets.get(k, 0),
                }
                for k in sorted({*contacts, *tickets})
            ]
        rows += [{"dimension": "backlog_age", "key": k, "backlog": n} for k, n in self.backlog.by_age.items()]
        rows += [
            {"dimension": self.granularity or "trend", "key": k.isoformat(), **v.cells()}
            for k, v in self.trend.items()
        ]
        return rows

    @classmethod
    def of(cls, shop_id: str, period: Period, report: IntakeReport) -> IntakeReportOut:
        return cls(
            shop_id=shop_id,
            start=period.since,
            end=period.until,
            overall=FiguresOut.of(report.overall),
            contacts=ByDimension(
                by_channel=report.contacts_by_channel, by_category=report.contacts_by_category
            ),
            tickets=ByDimension(by_channel=report.tickets_by_channel, by_category=report.tickets_by_category),
            backlog=BacklogOut(at=period.until, total=report.backlog, by_age=report.backlog_by_age),
            granularity=period.granularity,
            trend={k: FiguresOut.of(v) for k, v in report.trend.items()},
        )


ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"model": IntakeReportOut},
    401: {"model": Problem, "description": "missing or unknown API key"},
    404: {"model": Problem, "description": "shop= names another shop"},
    422: {"model": Problem, "description": "from/to unreadable or empty, or too many buckets"},
}


@router.get(
    "/v1/reports/intake",
    summary="Intake report: contacts, tickets, response and resolution times, FCR, deflection, backlog",
    responses=ERRORS,
)
async def intake_report(
    shop: CurrentShop, db: Db, query: ReportParams, ctx: ContextDep, shop_id: ShopQuery = None
) -> Response:
    """What came into the shop's care in the period (`from`/`to` in the shop's time zone), with a
    trend per day, week or month when `granularity` is given; CSV with `Accept: text/csv` or
    `format=csv`."""
    if shop_id is not None and shop_id != shop.id:
        # Another shop's id: answer as if it did not exist, revealing nothing about it.
        raise ApiError(404, "unknown_shop", f"no shop {shop_id!r} for this API key")
    period = query.period(shop.timezone, ctx.now())
    async with db.pool.acquire() as conn:
        counted = await reports.counts(conn, shop.id, period)
    out = IntakeReportOut.of(shop.id, period, build_report(counted, buckets(period)))
    return report_response(query, out.model_dump(mode="json", by_alias=True), out.csv_rows(), out.CSV_COLUMNS)
