"""Who is at the workspace: the session behind the request's cookie, the CSRF check of every POST, and
the pages that refuse (a sign-in redirect, 403, 404). The routes ask for these as dependencies:
`Agent` for a page, `Posted` for a form that changes something."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.clock import AcceleratedClock, Clock, ManualClock
from runtime.db import Database
from runtime.http_api import REJECTED_REQUESTS, api_context, api_database

from ..context import Context
from . import repository as repo
from .render import message_page
from .session import COOKIE_PATH, SESSION_COOKIE, Session, csrf_token, digest, same_secret
from .texts import LANGUAGES

SERVICE = "intake"

ContextDep = Annotated[Context, Depends(api_context)]
DbDep = Annotated[Database, Depends(api_database)]


class PageRefusal(Exception):
    """A request the workspace answers with a page of its own instead of the route's (raised by the
    dependencies and routes, answered by the handler `mount` installs)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def answer_refusal(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefusal)
    return exc.response


def wall_now() -> datetime:
    """Sessions expire in wall time: a demo's accelerated shop clock must not sign agents out."""
    return datetime.now(UTC)


def clock_rate(clock: Clock) -> float:
    """How many seconds of domain time pass in a second of wall time: what the countdowns' script
    counts with (0: a test's hand-driven clock, which does not move by itself)."""
    if isinstance(clock, AcceleratedClock):
        return clock.factor
    if isinstance(clock, ManualClock):
        return 0.0
    return 1.0


def browser_language(accept_language: str | None) -> str:
    """The first shipped language the browser asks for (English if none)."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return "en"


async def current_session(request: Request) -> Session | None:
    """The signed-in agent behind the request's cookie, or None (no cookie, expired, signed out,
    deactivated, or a new token issued since)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    db: Database = request.app.state.db
    id_sha256 = digest(session_id)
    async with db.pool.acquire() as conn:
        row = await repo.session_of(conn, id_sha256, wall_now())
    shop = request.app.state.context.shops.get(row["shop_id"]) if row is not None else None
    if row is None or shop is None or shop.suspended:  # a suspended shop's people are signed out
        return None
    return Session(
        id_sha256=id_sha256,
        shop_id=row["shop_id"],
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        role=row["role"],
        locale=row["locale"],
        csrf=csrf_token(session_id),
    )


async def signed_in(request: Request) -> Session:
    """A page's agent; without one the browser goes to the sign-in page, and comes back after."""
    session = await current_session(request)
    if session is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageRefusal(RedirectResponse(f"{COOKIE_PATH}/sign-in?next={quote(back, safe='')}", 303))
    return session


@dataclass(frozen=True)
class Form:
    """A POSTed form whose CSRF token matched its session."""

    session: Session
    fields: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


async def posted(request: Request) -> Form:
    """A form that changes something: refused with 403 without a session, or without the session's
    CSRF token (nothing is done; the page says why)."""
    data = await request.form()
    fields = {name: value for name, value in data.items() if isinstance(value, str)}
    session = await current_session(request)
    lang = session.locale if session else browser_language(request.headers.get("accept-language"))
    if session is None:
        REJECTED_REQUESTS.labels(SERVICE, "workspace_no_session").inc()
        raise PageRefusal(message_page(lang, 403, "forbidden_title", "session_ended"))
    if not same_secret(session.csrf, fields.get("csrf")):
        REJECTED_REQUESTS.labels(SERVICE, "workspace_csrf").inc()
        raise PageRefusal(message_page(lang, 403, "forbidden_title", "forbidden_body", session=session))
    return Form(session, fields)


Agent = Annotated[Session, Depends(signed_in)]
Posted = Annotated[Form, Depends(posted)]


class ServerTiming:
    """`Server-Timing: app;dur=<ms>` on every workspace response: the time the server spent on it,
    from the request's arrival to its answer's start (the pages are rendered whole before that), as
    the browser's developer tools and bench/workspace.py read it."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={elapsed:.2f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, timed)
