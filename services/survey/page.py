"""The public answer page's HTML: server-rendered (autoescaped Jinja2), no JavaScript, no third-party
assets, in the customer's language. Its routes are in api.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from services.survey import answers
from services.survey.context import Context
from services.survey.domain.kinds import SUB_RATING_SCALE, SurveyKind, scale_of
from services.survey.domain.locale import from_accept_language
from services.survey.domain.tokens import TokenState
from services.survey.texts import ANCHORS, QUESTIONS, WORDS

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


def _render(template: str, status: int, **values: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(**values)
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


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
    ctx: Context,
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
    shop = ctx.shop_name(invitation["shop_id"])
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
