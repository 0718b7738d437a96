"""The survey HTTP API: the public answer page, a JSON answer endpoint, and the shops' reports.

The routes are module-level routers; `build_api` assembles them, and the runtime's dependencies
(runtime.http_api: Db, CurrentShop, api_context) give them the database, the caller's shop and the
service's context. A use case's metrics
count only if its transaction commits (`unit_of_work`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from runtime.db import Connection, Database
from runtime.http_api import ApiError, CurrentShop, Db, api_context, make_api
from runtime.metrics import counted_on_commit
from runtime.reports import ReportParams, ReportQuery, report_response
from runtime.shops import Shop
from services.survey import answers, reports, repository
from services.survey.api_models import (
    DEFINITIONS,
    AnswerAccepted,
    AnswerRequest,
    DecisionOut,
    FiguresOut,
    ReportOut,
)
from services.survey.context import Context
from services.survey.domain.kinds import SurveyKind, is_detractor
from services.survey.domain.tokens import TokenState
from services.survey.metrics import PAGE_SECONDS, TOKEN_REFUSALS
from services.survey.page import STYLESHEET_PATH, form_page, refusal_page, stylesheet, thanks_page
from services.survey.texts import WORDS

SERVICE = "survey"


Ctx = Annotated[Context, Depends(api_context)]
ShopQuery = Annotated[str | None, Query(alias="shop", description="optional; must be the API key's own shop")]


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    """One use case's transaction; its metrics count only if it commits."""
    with counted_on_commit():
        async with db.transaction() as conn:
            yield conn


# -- the answer page --------------------------------------------------------------------------

page_router = APIRouter(tags=["answer page"])


def _int_or_none(value: object) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


@page_router.get(STYLESHEET_PATH, include_in_schema=False)
async def page_stylesheet() -> Response:
    return stylesheet()


@page_router.get("/s/{token}", response_class=HTMLResponse, summary="The answer page (HTML)")
async def show(token: str, request: Request, db: Db, ctx: Ctx, score: str | None = None) -> HTMLResponse:
    started = time.perf_counter()
    async with db.pool.acquire() as conn:
        status = await answers.token_status(conn, token, ctx.now())
    if status.state is not TokenState.VALID:
        TOKEN_REFUSALS.labels(status.state.value).inc()
        response = refusal_page(status.state, status.invitation, request, ctx)
    else:
        response = form_page(status.invitation, ctx, selected=_int_or_none(score))
    PAGE_SECONDS.labels("GET").observe(time.perf_counter() - started)
    return response


@page_router.post("/s/{token}", response_class=HTMLResponse, summary="Submit the answer form")
async def submit(token: str, request: Request, db: Db, ctx: Ctx) -> HTMLResponse:
    started = time.perf_counter()
    form = await request.form()
    score = _int_or_none(form.get("score"))
    raw_comment = form.get("comment")
    comment = raw_comment if isinstance(raw_comment, str) else ""
    speed, accuracy = _int_or_none(form.get("speed")), _int_or_none(form.get("accuracy"))
    async with unit_of_work(db) as conn:
        status = await answers.token_status(conn, token, ctx.now())
        if status.state is not TokenState.VALID or status.invitation is None:
            TOKEN_REFUSALS.labels(status.state.value).inc()
            return refusal_page(status.state, status.invitation, request, ctx)
        inv = status.invitation
        words = WORDS[inv["locale"]]
        if score is None:
            return form_page(
                inv,
                ctx,
                selected=None,
                comment=comment,
                speed=speed,
                accuracy=accuracy,
                error=words["choose_score"],
            )
        try:
            outcome = await answers.answer_survey(
                conn, token, answers.AnswerInput(score, comment, speed, accuracy), ctx, ctx.now(), "page"
            )
        except answers.InvalidAnswer as exc:
            return form_page(
                inv,
                ctx,
                selected=None,
                comment=comment[: answers.MAX_COMMENT_CHARS],
                error=words["choose_score"] if exc.field == "score" else str(exc),
            )
    if outcome.state is not TokenState.VALID:
        return refusal_page(outcome.state, outcome.invitation, request, ctx)
    PAGE_SECONDS.labels("POST").observe(time.perf_counter() - started)
    return thanks_page(inv, ctx, unhappy=is_detractor(SurveyKind(inv["kind"]), score))


# -- the JSON answer --------------------------------------------------------------------------

answers_router = APIRouter(tags=["answers"])


@answers_router.post(
    "/v1/answers",
    status_code=201,
    response_model=AnswerAccepted,
    summary="Answer a survey with its token (JSON)",
    responses={404: {"description": "unknown token"}, 410: {"description": "used or expired token"}},
)
async def answer(body: AnswerRequest, db: Db, ctx: Ctx) -> Any:
    async with unit_of_work(db) as conn:
        try:
            outcome = await answers.answer_survey(
                conn,
                body.token,
                answers.AnswerInput(body.score, body.comment, body.speed, body.accuracy),
                ctx,
                ctx.now(),
                "api",
            )
        except answers.InvalidAnswer as exc:
            # the same 422 as a body the model refuses, naming the field
            problem = {"type": "value_error", "loc": ("body", exc.field), "msg": str(exc)}
            raise RequestValidationError([problem]) from exc
    if outcome.state is TokenState.UNKNOWN:
        raise ApiError(404, "unknown_token", "no survey has this token")
    if outcome.state is TokenState.ANSWERED:
        raise ApiError(410, "already_answered", "this survey has already been answered")
    if outcome.state is TokenState.EXPIRED:
        raise ApiError(410, "expired", "this survey link has expired")
    assert outcome.invitation is not None
    kind = SurveyKind(outcome.invitation["kind"])
    return AnswerAccepted(
        survey_id=outcome.invitation["survey_id"],
        kind=kind,
        score=body.score,
        detractor=is_detractor(kind, body.score),
    )


# -- reports ----------------------------------------------------------------------------------

reports_router = APIRouter(tags=["reports"])
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ReportOut},
    404: {"description": "shop= names another shop"},
}


async def _report(
    kind: SurveyKind, shop: Shop, db: Database, ctx: Context, query: ReportQuery, shop_param: str | None
) -> Response:
    if shop_param is not None and shop_param != shop.id:
        # Another shop's id: answer as if it did not exist, revealing nothing about it.
        raise ApiError(404, "unknown_shop", f"no shop {shop_param!r} for this API key")
    period = query.period(shop.timezone, ctx.now())
    async with db.pool.acquire() as conn:
        result = await reports.report(conn, shop.id, kind, period)
    out = ReportOut(
        shop_id=shop.id,
        kind=kind,
        score_definition=DEFINITIONS[kind],
        start=period.since,
        end=period.until,
        overall=FiguresOut.of(result.overall),
        by_channel={k: FiguresOut.of(v) for k, v in result.by_channel.items()},
        by_category={k: FiguresOut.of(v) for k, v in result.by_category.items()},
        by_agent={k: FiguresOut.of(v) for k, v in result.by_agent.items()},
        by_team={k: FiguresOut.of(v) for k, v in result.by_team.items()},
        granularity=period.granularity,
        trend={k: FiguresOut.of(v) for k, v in result.trend.items()},
    )
    return report_response(query, out.model_dump(mode="json", by_alias=True), out.csv_rows(), out.CSV_COLUMNS)


def _report_route(kind: SurveyKind) -> Callable[..., Awaitable[Response]]:
    """The route of one kind's report: a path of its own per kind, as published."""

    async def report(
        shop: CurrentShop, db: Db, ctx: Ctx, query: ReportParams, shop_id: ShopQuery = None
    ) -> Response:
        return await _report(kind, shop, db, ctx, query, shop_id)

    report.__name__ = f"{kind.value}_report"
    return report


for _kind in SurveyKind:
    reports_router.add_api_route(
        f"/v1/reports/{_kind.value}",
        _report_route(_kind),
        methods=["GET"],
        summary=f"{_kind.value.upper()} report",
        responses=REPORT_RESPONSES,
    )


@reports_router.get(
    "/v1/decisions",
    response_model=list[DecisionOut],
    summary="Recent send/suppress decisions with their reasons (throttling audit)",
)
async def decisions(shop: CurrentShop, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    async with db.pool.acquire() as conn:
        rows = await repository.decisions(conn, shop.id, limit)
    return [DecisionOut.model_validate(dict(r)) for r in rows]


def build_api(db: Database, ctx: Context) -> FastAPI:
    api = make_api(
        SERVICE,
        "CareLoop survey",
        "NPS, CSAT and CES surveys: the public answer page (/s/{token}), a JSON answer endpoint, "
        "and per-shop reports (API key of the shop).",
        db=db,
        shops=ctx.shops,
        context=ctx,
    )
    for router in (page_router, answers_router, reports_router):
        api.include_router(router)
    return api
