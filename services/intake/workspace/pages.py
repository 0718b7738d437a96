"""The workspace's pages under /workspace: sign-in and sign-out, the language, the queue, a ticket, and
the stylesheet and script. Pages answer HTML (a refusal is a page too, never the API's JSON); the
forms that change a ticket are in actions.py. `mount` puts both on intake's app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runtime.clock import Clock
from runtime.http_api import REJECTED_REQUESTS
from runtime.shops import hash_api_key

from ..auth import authenticate_agent
from . import repository as repo
from .access import (
    SERVICE,
    Agent,
    ContextDep,
    DbDep,
    PageRefusal,
    Posted,
    ServerTiming,
    answer_refusal,
    browser_language,
    current_session,
    wall_now,
)
from .render import asset, message_page, page
from .screens import Outcome, queue_screen, ticket_screen
from .session import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    digest,
    new_secret,
    safe_next,
    same_secret,
    secure_transport,
)
from .texts import LANGUAGES, WORDS

router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)

SIGN_IN_MINUTES = 60
"""How long a sign-in form stays usable."""
NOTICES = {"reply", "note", "status", "assign", "tags", "merge"}


def _secure(request: Request) -> bool:
    return secure_transport(request.url.scheme, request.headers.get("x-forwarded-proto"))


def _set_cookie(
    response: Response, request: Request, name: str, value: str, seconds: int, same_site: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=COOKIE_PATH,
        httponly=True,
        secure=_secure(request),
        samesite=same_site,  # type: ignore[arg-type]
    )


def _sign_in_page(
    request: Request, lang: str, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> HTMLResponse:
    token = new_secret()
    chosen = request.query_params.get("lang")
    response = page(
        "sign_in.html",
        lang,
        status=status,
        title=WORDS[lang]["sign_in_title"],
        sign_in_token=token,
        next=safe_next(request.query_params.get("next")),
        chosen=lang if chosen in LANGUAGES else "",
        error=error,
        notice=notice,
    )
    # Strict: the sign-in form's token comes back only from the workspace's own pages
    _set_cookie(response, request, SIGN_IN_COOKIE, token, SIGN_IN_MINUTES * 60, "strict")
    return response


def _page_language(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return wanted if wanted in LANGUAGES else browser_language(request.headers.get("accept-language"))


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    lang = _page_language(request)
    notice = WORDS[lang]["signed_out"] if request.query_params.get("signed_out") else None
    return _sign_in_page(request, lang, notice=notice)


@router.post("/sign-in")
async def sign_in(request: Request, db: DbDep, ctx: ContextDep) -> Response:
    """The agent's token for a session: a new random session id in the cookie (never one the browser
    brought), its hash kept with the agent, the shop and the token it was opened with."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    chosen = fields.get("lang", "")
    lang = chosen if chosen in LANGUAGES else browser_language(request.headers.get("accept-language"))
    if not same_secret(request.cookies.get(SIGN_IN_COOKIE), fields.get("csrf")):
        REJECTED_REQUESTS.labels(SERVICE, "workspace_csrf").inc()
        return message_page(lang, 403, "forbidden_title", "forbidden_body")
    token = fields.get("token", "").strip()
    caller = await authenticate_agent(db, ctx, token) if token else None
    if caller is None or caller.agent is None or caller.shop.suspended:
        REJECTED_REQUESTS.labels(SERVICE, "workspace_bad_token").inc()
        return _sign_in_page(request, lang, status=401, error=WORDS[lang]["sign_in_refused"])
    session_id, now = new_secret(), wall_now()
    hours = ctx.config.workspace_session_hours
    async with db.transaction() as conn:
        await repo.open_session(
            conn,
            id_sha256=digest(session_id),
            shop_id=caller.shop.id,
            agent_id=caller.agent.id,
            token_sha256=hash_api_key(token),
            locale=chosen if chosen in LANGUAGES else caller.shop.locale[:2],
            now=now,
            expires_at=now + timedelta(hours=hours),
        )
    response = RedirectResponse(safe_next(fields.get("next")), 303)
    _set_cookie(response, request, SESSION_COOKIE, session_id, int(hours * 3600), "lax")
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/sign-out")
async def sign_out(form: Posted, db: DbDep) -> Response:
    async with db.transaction() as conn:
        await repo.close_session(conn, form.session.id_sha256)
    response = RedirectResponse(f"{COOKIE_PATH}/sign-in?signed_out=1&lang={form.session.locale}", 303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/language")
async def language(form: Posted, db: DbDep) -> Response:
    lang = form.get("lang")
    if lang in LANGUAGES:
        async with db.transaction() as conn:
            await repo.set_locale(conn, form.session.id_sha256, lang)
    return RedirectResponse(safe_next(form.get("next")), 303)


@router.get("")
async def root() -> Response:
    return RedirectResponse(f"{COOKIE_PATH}/", 308)


@router.get("/")
async def queue(request: Request, session: Agent, db: DbDep, ctx: ContextDep) -> HTMLResponse:
    """My tickets and the unassigned ones, by the nearest SLA deadline."""
    return await queue_screen(request, db, ctx, session)


@router.get("/tickets/{ticket_id}")
async def ticket(
    ticket_id: str, request: Request, session: Agent, db: DbDep, ctx: ContextDep
) -> HTMLResponse:
    done = request.query_params.get("done")
    notice = WORDS[session.locale][f"done_{done}"] if done in NOTICES else None
    return await ticket_screen(request, db, ctx, session, ticket_id, Outcome(notice=notice))


@router.get("/static/{name}")
async def static(name: str) -> Response:
    return asset(name)


def mount(api: FastAPI, clock: Callable[[], Clock]) -> None:
    """Put the workspace on intake's app: its routes, its refusals' pages, and the clock its
    countdowns follow (`clock` is read per request: tests swap the runtime's clock after build)."""
    from .actions import router as actions

    api.state.workspace_clock = clock
    api.add_exception_handler(PageRefusal, answer_refusal)
    api.add_middleware(ServerTiming, prefix=COOKIE_PATH)
    api.include_router(router)
    api.include_router(actions)
