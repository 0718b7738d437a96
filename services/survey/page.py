"""The public pages' HTML: server-rendered (autoescaped Jinja2), no JavaScript, no third-party
assets (one stylesheet served by the survey service itself), in the customer's language. Their routes
are in api.py."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader

from services.survey import answers
from services.survey.context import Context
from services.survey.domain.kinds import SUB_RATING_SCALE, SurveyKind, scale_of
from services.survey.domain.locale import from_accept_language
from services.survey.domain.tokens import TokenState
from services.survey.texts import ANCHORS, QUESTIONS, SUB_ANCHORS, WORDS

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value, the comment above all, is escaped: it is text, never HTML
    auto_reload=False,
)

STYLESHEET = (HERE / "static" / "survey.css").read_bytes()
STYLESHEET_PATH = "/s/static/survey.css"
# Relative to /s/{token}, so it also resolves behind a proxy that serves the pages under a path
# prefix; the content version in the query makes a changed file a new URL, so browsers may cache it.
STYLESHEET_HREF = "static/survey.css?v=" + hashlib.sha256(STYLESHEET).hexdigest()[:16]

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never leak it to other sites
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

REFUSAL_STATUS = {TokenState.UNKNOWN: 404, TokenState.ANSWERED: 410, TokenState.EXPIRED: 410}


@dataclass(frozen=True)
class Brand:
    """The shop a page speaks for: its name, shown on its own (never declined), and its site."""

    name: str
    url: str | None


@dataclass(frozen=True)
class ScaleGroup:
    name: str
    label: str
    hint: str
    scale: range
    selected: int | None
    anchors: tuple[str, str]


def brand_of(ctx: Context, shop_id: str) -> Brand:
    shop = ctx.shops.get(shop_id)
    return Brand(shop.name, shop.url) if shop else Brand(shop_id, None)


def stylesheet() -> Response:
    return Response(
        STYLESHEET,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def _render(template: str, status: int, **values: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(stylesheet=STYLESHEET_HREF, **values)
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def _titled(title: str, brand: Brand | None) -> str:
    return f"{title} | {brand.name}" if brand else title


def message_page(
    state: str, lang: str, status: int, brand: Brand | None = None, paragraphs: Sequence[str] = ()
) -> HTMLResponse:
    """A page without a form (thank you, already answered, expired, unknown), linking back to the
    shop when the shop has a site."""
    words = WORDS[lang]
    title = words[f"{state}_title"]
    return _render(
        "message.html",
        status,
        lang=lang,
        title=title,
        page_title=_titled(title, brand),
        brand=brand,
        paragraphs=paragraphs or [words[f"{state}_body"]],
        back=words["back_to_shop"],
    )


def thanks_page(invitation: Any, ctx: Context, *, unhappy: bool) -> HTMLResponse:
    """After an answer: what happens next. An unhappy answer (survey.detractor) opens a follow-up
    ticket at the shop, so the customer is told the care team will be in touch."""
    lang = invitation["locale"]
    words = WORDS[lang]
    following = words["thanks_next_unhappy"] if unhappy else words["thanks_next"]
    brand = brand_of(ctx, invitation["shop_id"])
    return message_page("thanks", lang, 200, brand, [words["thanks_recorded"], following])


def refusal_page(state: TokenState, invitation: Any, request: Request, ctx: Context) -> HTMLResponse:
    if invitation:
        return message_page(
            state.value, invitation["locale"], REFUSAL_STATUS[state], brand_of(ctx, invitation["shop_id"])
        )
    lang = from_accept_language(request.headers.get("accept-language"))
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
    hint = words["scale_label"]
    low_text, high_text = ANCHORS[lang][kind]
    sub_low, sub_high = SUB_ANCHORS[lang]
    sub_scale = SUB_RATING_SCALE
    sub_hint = hint.format(low=sub_scale.low, high=sub_scale.high, low_text=sub_low, high_text=sub_high)
    subs = (
        [
            ScaleGroup("speed", words["speed"], sub_hint, sub_scale.values, speed, (sub_low, sub_high)),
            ScaleGroup(
                "accuracy", words["accuracy"], sub_hint, sub_scale.values, accuracy, (sub_low, sub_high)
            ),
        ]
        if kind is SurveyKind.CSAT
        else []
    )
    main = ScaleGroup(
        "score",
        QUESTIONS[lang][kind],
        hint.format(low=scale.low, high=scale.high, low_text=low_text, high_text=high_text),
        scale.values,
        selected if selected is not None and scale.accepts(selected) else None,
        (low_text, high_text),
    )
    brand = brand_of(ctx, invitation["shop_id"])
    return _render(
        "survey.html",
        422 if error else 200,
        lang=lang,
        page_title=_titled(words["title"], brand),
        brand=brand,
        main=main,
        sub_ratings=subs,
        words=words,
        comment=comment,
        max_comment=answers.MAX_COMMENT_CHARS,
        error=error,
    )
