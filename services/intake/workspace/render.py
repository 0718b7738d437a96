"""The workspace's HTML: autoescaped Jinja2 templates, its own stylesheet and script served by intake
itself (no third-party host), and the headers every page carries."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader

from .session import COOKIE_PATH, Session
from .texts import LANGUAGE_NAMES, LANGUAGES, WORDS

HERE = Path(__file__).parent
TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value (a customer's message above all) is text, never HTML
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)

ASSETS: dict[str, tuple[bytes, str]] = {
    "workspace.css": ((HERE / "static" / "workspace.css").read_bytes(), "text/css"),
    "workspace.js": ((HERE / "static" / "workspace.js").read_bytes(), "text/javascript"),
    "icon.svg": ((HERE / "static" / "icon.svg").read_bytes(), "image/svg+xml"),
}


def _versioned(name: str) -> str:
    # the content's hash in the URL: a changed file is a new URL, so browsers may keep the old a day
    return f"{COOKIE_PATH}/static/{name}?v={hashlib.sha256(ASSETS[name][0]).hexdigest()[:16]}"


ASSET_HREFS = {
    "css": _versioned("workspace.css"),
    "js": _versioned("workspace.js"),
    "icon": _versioned("icon.svg"),
}

SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # pages show customers' messages: never kept by a cache
    "Referrer-Policy": "no-referrer",  # a tracking link opened from a ticket learns nothing of it
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def asset(name: str) -> Response:
    """The stylesheet or the script (404 for anything else)."""
    found = ASSETS.get(name)
    if found is None:
        return Response(status_code=404, headers={"X-Content-Type-Options": "nosniff"})
    body, media_type = found
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def page(
    template: str,
    lang: str,
    *,
    status: int = 200,
    session: Session | None = None,
    shop_name: str | None = None,
    here: str = COOKIE_PATH + "/",
    **values: Any,
) -> HTMLResponse:
    """A page in `lang`, for the signed-in agent (`session`) or for nobody yet."""
    html = TEMPLATES.get_template(template).render(
        lang=lang,
        words=WORDS[lang],
        assets=ASSET_HREFS,
        session=session,
        shop_name=shop_name,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        here=here,
        root=COOKIE_PATH,
        **values,
    )
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def message_page(
    lang: str, status: int, title_key: str, body_key: str, *, session: Session | None = None
) -> HTMLResponse:
    """A page that only says something (not found, form expired), with the way back."""
    words = WORDS[lang]
    return page(
        "message.html",
        lang,
        status=status,
        session=session,
        title=words[title_key],
        body=words[body_key],
    )
