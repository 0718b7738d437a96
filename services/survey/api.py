"""The survey HTTP API: the public answer page, a JSON answer endpoint, and the shops' reports.

No `from __future__ import annotations` here: FastAPI must see the route annotations as objects, and the
shop dependency is local to build_api (it closes over the shop registry).
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from runtime.db import Database
from runtime.http_api import make_api, shop_auth
from runtime.shops import Shop
from services.survey import answers, handlers, reports, repository
from services.survey.clocked import NowFn
from services.survey.domain.kinds import SurveyKind, is_detractor
from services.survey.domain.reports import Figures, Report
from services.survey.domain.tokens import TokenState
from services.survey.page import page_router

DEFAULT_PERIOD = timedelta(days=30)

FromQuery = Annotated[
    str | None,
    Query(alias="from", description="ISO date or date-time, inclusive (default: `to` minus 30 days)"),
]
ToQuery = Annotated[
    str | None, Query(alias="to", description="ISO date or date-time, exclusive (default: now)")
]
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the API key's own shop")]


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="the token from the personal link")
    score: int = Field(description="NPS 0-10, CSAT 1-5, CES 1-7")
    comment: str | None = Field(default=None, max_length=answers.MAX_COMMENT_CHARS)
    speed: int | None = Field(default=None, description="CSAT only: speed of the help, 1-5")
    accuracy: int | None = Field(default=None, description="CSAT only: accuracy/completeness, 1-5")


class AnswerAccepted(BaseModel):
    survey_id: str
    kind: SurveyKind
    score: int
    detractor: bool


class FiguresOut(BaseModel):
    answers: int
    score: float | None
    invited: int = Field(description="invitations sent in the period")
    answered_of_invited: int = Field(description="how many of those invitations have been answered")
    response_rate: float | None = Field(description="percent of the period's invitations answered")
    distribution: dict[int, int]

    @classmethod
    def of(cls, f: Figures) -> "FiguresOut":
        return cls(
            answers=f.answers,
            score=f.score,
            invited=f.invited,
            answered_of_invited=f.answered_of_invited,
            response_rate=f.response_rate,
            distribution=f.distribution,
        )


class ReportOut(BaseModel):
    shop_id: str
    kind: SurveyKind
    score_definition: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    overall: FiguresOut
    by_channel: dict[str, FiguresOut]
    by_category: dict[str, FiguresOut]


class DecisionOut(BaseModel):
    survey_id: str
    kind: SurveyKind
    decision: str
    reason: str
    decided_at: datetime
    order_id: str | None
    ticket_id: str | None


DEFINITIONS = {
    SurveyKind.NPS: "% promoters (9-10) minus % detractors (0-6), -100..100",
    SurveyKind.CSAT: "% of answers 4 or 5 (of 1-5)",
    SurveyKind.CES: "mean effort score, 1 (very difficult) .. 7 (very easy)",
}


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status)


def _instant(value: str) -> datetime:
    """An ISO date (midnight UTC) or an ISO date-time (UTC if no offset is given)."""
    try:
        parsed = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_api(db: Database, ctx: handlers.Context, now: NowFn) -> FastAPI:
    api = make_api(
        "survey",
        "CareLoop survey",
        "NPS, CSAT and CES surveys: the public answer page (/s/{token}), a JSON answer endpoint, "
        "and per-shop reports (API key of the shop).",
    )
    api.include_router(page_router(db, ctx, now))
    current_shop = shop_auth(ctx.shops, "survey")
    ShopDep = Annotated[Shop, Depends(current_shop)]  # noqa: N806 - a type alias, named as one

    @api.post(
        "/v1/answers",
        status_code=201,
        response_model=AnswerAccepted,
        tags=["answers"],
        summary="Answer a survey with its token (JSON)",
        responses={404: {"description": "unknown token"}, 410: {"description": "used or expired token"}},
    )
    async def answer(body: AnswerRequest) -> Any:
        async with db.transaction() as conn:
            try:
                outcome = await answers.answer_survey(
                    conn,
                    body.token,
                    answers.AnswerInput(body.score, body.comment, body.speed, body.accuracy),
                    ctx,
                    now(),
                    "api",
                )
            except answers.InvalidAnswer as exc:
                return JSONResponse(
                    {"error": "invalid_request", "detail": [{"field": exc.field, "message": str(exc)}]}, 422
                )
        if outcome.state is TokenState.UNKNOWN:
            return _error(404, "unknown_token", "no survey has this token")
        if outcome.state is TokenState.ANSWERED:
            return _error(410, "already_answered", "this survey has already been answered")
        if outcome.state is TokenState.EXPIRED:
            return _error(410, "expired", "this survey link has expired")
        assert outcome.invitation is not None
        kind = SurveyKind(outcome.invitation["kind"])
        return AnswerAccepted(
            survey_id=outcome.invitation["survey_id"],
            kind=kind,
            score=body.score,
            detractor=is_detractor(kind, body.score),
        )

    async def _report(
        shop: Shop, kind: SurveyKind, start: str | None, end: str | None, shop_param: str | None
    ) -> Any:
        if shop_param is not None and shop_param != shop.id:
            # Another shop's id: answer as if it did not exist, revealing nothing about it.
            return _error(404, "unknown_shop", f"no shop {shop_param!r} for this API key")
        try:
            until = _instant(end) if end else now() + timedelta(microseconds=1)  # include "now"
            since = _instant(start) if start else until - DEFAULT_PERIOD
        except ValueError as exc:
            return _error(422, "invalid_request", f"from/to must be ISO dates or date-times: {exc}")
        if since >= until:
            return _error(422, "invalid_request", "from must be before to")
        async with db.pool.acquire() as conn:
            result: Report = await reports.report(conn, shop.id, kind, since, until)
        out = ReportOut(
            shop_id=shop.id,
            kind=kind,
            score_definition=DEFINITIONS[kind],
            start=since,
            end=until,
            overall=FiguresOut.of(result.overall),
            by_channel={k: FiguresOut.of(v) for k, v in result.by_channel.items()},
            by_category={k: FiguresOut.of(v) for k, v in result.by_category.items()},
        )
        return JSONResponse(out.model_dump(mode="json", by_alias=True))

    report_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": ReportOut},
        404: {"description": "shop= names another shop"},
    }

    @api.get("/v1/reports/nps", tags=["reports"], summary="NPS report", responses=report_responses)
    async def nps_report(
        shop: ShopDep, start: FromQuery = None, end: ToQuery = None, shop_id: ShopQuery = None
    ) -> Any:
        return await _report(shop, SurveyKind.NPS, start, end, shop_id)

    @api.get("/v1/reports/csat", tags=["reports"], summary="CSAT report", responses=report_responses)
    async def csat_report(
        shop: ShopDep, start: FromQuery = None, end: ToQuery = None, shop_id: ShopQuery = None
    ) -> Any:
        return await _report(shop, SurveyKind.CSAT, start, end, shop_id)

    @api.get("/v1/reports/ces", tags=["reports"], summary="CES report", responses=report_responses)
    async def ces_report(
        shop: ShopDep, start: FromQuery = None, end: ToQuery = None, shop_id: ShopQuery = None
    ) -> Any:
        return await _report(shop, SurveyKind.CES, start, end, shop_id)

    @api.get(
        "/v1/decisions",
        response_model=list[DecisionOut],
        tags=["reports"],
        summary="Recent send/suppress decisions with their reasons (throttling audit)",
    )
    async def decisions(shop: ShopDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        async with db.pool.acquire() as conn:
            rows = await repository.decisions(conn, shop.id, limit)
        return [DecisionOut.model_validate(dict(r)) for r in rows]

    return api
