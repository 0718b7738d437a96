"""The public answer page: server-rendered HTML (autoescaped Jinja2), no JavaScript, no third-party
assets, in the customer's language."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from prometheus_client import Histogram

from runtime.db import Database
from services.survey import answers, handlers
from services.survey.clocked import NowFn
from services.survey.domain.kinds import SUB_RATING_SCALE, SurveyKind, scale_of
from services.survey.domain.locale import from_accept_language
from services.survey.domain.tokens import TokenState
from services.survey.texts import ANCHORS, QUESTIONS, WORDS

PAGE_SECONDS = Histogram(
    "careloop_survey_page_seconds",
    "Time to serve the answer page, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every value, the comment above all, is escaped: it is text, never HTML
    auto_reload=False,
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never leak it to other sites
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}

REFUSAL_STATUS = {TokenState.UNKNOWN: 404, TokenState.ANSWERED: 410, TokenState.EXPIRED: 410}


@dataclass(frozen=True)
class SubRating:
    name: str
    label: str
    scale: range
    selected: int | None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _render(template: str, status: int, **values: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(**values)
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def _shop_name(ctx: handlers.Context, shop_id: str) -> str:
    shop = ctx.shops.get(shop_id)
    return shop.name if shop else shop_id


def message_page(state: str, lang: str, status: int, shop: str = "") -> HTMLResponse:
    words = WORDS[lang]
    title = words[f"{state}_title"]
    return _render(
        "message.html", status, lang=lang, title=title, body=words[f"{state}_body"].format(shop=shop)
    )


def refusal_page(state: TokenState, invitation: Any, request: Request) -> HTMLResponse:
    lang = (
        invitation["locale"] if invitation else from_accept_language(request.headers.get("accept-language"))
    )
    return message_page(state.value, lang, REFUSAL_STATUS[state])


def form_page(
    invitation: Any,
    ctx: handlers.Context,
    *,
    selected: int | None,
    comment: str = "",
    speed: int | None = None,
    accuracy: int | None = None,
    error: str | None = None,
) -> HTMLResponse:
    lang = invitation["locale"]
    kind = SurveyKind(invitation["kind"])
    scale = scale_of(kind)
    words = WORDS[lang]
    low_text, high_text = ANCHORS[lang][kind]
    shop = _shop_name(ctx, invitation["shop_id"])
    subs = (
        [
            SubRating("speed", words["speed"], SUB_RATING_SCALE.values, speed),
            SubRating("accuracy", words["accuracy"], SUB_RATING_SCALE.values, accuracy),
        ]
        if kind is SurveyKind.CSAT
        else []
    )
    return _render(
        "survey.html",
        422 if error else 200,
        lang=lang,
        title=f"{words['title']} | {shop}",
        question=QUESTIONS[lang][kind].format(shop=shop),
        scale_hint=words["scale_label"].format(
            low=scale.low, high=scale.high, low_text=low_text, high_text=high_text
        ),
        scale=scale.values,
        selected=selected if selected is not None and scale.accepts(selected) else None,
        sub_ratings=subs,
        sub_hint=words["sub_anchors"],
        words=words,
        comment=comment,
        max_comment=answers.MAX_COMMENT_CHARS,
        error=error,
    )


def page_router(db: Database, ctx: handlers.Context, now: NowFn) -> APIRouter:
    router = APIRouter(include_in_schema=True, tags=["answer page"])

    @router.get("/s/{token}", response_class=HTMLResponse, summary="The answer page (HTML)")
    async def show(token: str, request: Request, score: str | None = None) -> HTMLResponse:
        started = time.perf_counter()
        async with db.pool.acquire() as conn:
            status = await answers.token_status(conn, token, now())
        if status.state is not TokenState.VALID:
            answers.TOKEN_REFUSALS.labels(status.state.value).inc()
            response = refusal_page(status.state, status.invitation, request)
        else:
            response = form_page(status.invitation, ctx, selected=_int_or_none(score))
        PAGE_SECONDS.labels("GET").observe(time.perf_counter() - started)
        return response

    @router.post("/s/{token}", response_class=HTMLResponse, summary="Submit the answer form")
    async def submit(token: str, request: Request) -> HTMLResponse:
        started = time.perf_counter()
        form = await request.form()
        score = _int_or_none(form.get("score"))
        raw_comment = form.get("comment")
        comment = raw_comment if isinstance(raw_comment, str) else ""
        speed, accuracy = _int_or_none(form.get("speed")), _int_or_none(form.get("accuracy"))
        async with db.transaction() as conn:
            status = await answers.token_status(conn, token, now())
            if status.state is not TokenState.VALID or status.invitation is None:
                answers.TOKEN_REFUSALS.labels(status.state.value).inc()
                return refusal_page(status.state, status.invitation, request)
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
                    conn, token, answers.AnswerInput(score, comment, speed, accuracy), ctx, now(), "page"
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
            return refusal_page(outcome.state, outcome.invitation, request)
        PAGE_SECONDS.labels("POST").observe(time.perf_counter() - started)
        return message_page("thanks", inv["locale"], 200, shop=_shop_name(ctx, inv["shop_id"]))

    return router
