"""The ticket forms of the workspace: reply, internal note, status, take, assign, tags, merge. Each is a
plain HTML form POST (it works without JavaScript) carrying the session's CSRF token, checked as the
tickets API checks its bodies (the same request models) and carried out by the same handlers the API
calls, in one transaction whose metrics count only if it commits. Then POST/redirect/GET: the ticket
page again, saying what was done; a refused form shows the page with the agent's text kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from runtime.audit import Actor, Caller
from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit
from schemas.v1.audit import ActorKind
from schemas.v1.tickets import TicketStatus

from .. import handlers, metrics
from ..api_models import MergeIn, NoteIn, ReplyIn, StatusIn
from ..assignment_api import AssignIn, TagsIn
from ..context import Context
from ..domain.agents import PeopleRefused
from ..domain.lifecycle import TransitionRefused
from ..domain.ticket import ConflictingChange, TicketNotFound
from . import people
from .access import ContextDep, DbDep, Form, PageRefusal, Posted
from .render import message_page
from .screens import Outcome, ticket_screen
from .session import COOKIE_PATH
from .texts import WORDS

router = APIRouter(prefix=COOKIE_PATH, include_in_schema=False)
SOURCE = "workspace"
"""intake's rejected-inputs metric names where a refused input came from."""

Work = Callable[[Connection], Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)
ERROR_KEYS = {
    "string_too_short": "error_empty",
    "missing": "error_empty",
    "string_too_long": "error_too_long",
}
"""The words for a form field the API's model refused, by pydantic's kind of error."""


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    """One form's transaction; its metrics count only if it commits."""
    with counted_on_commit():
        async with db.transaction() as conn:
            yield conn


class Attempt:
    """One form's attempt on a ticket: its input checked by the API's model, its work done through
    the API's handlers, and the page that follows either way."""

    def __init__(
        self, request: Request, db: Database, ctx: Context, form: Form, ticket_id: str, failed: str
    ) -> None:
        self.request, self.db, self.ctx, self.form = request, db, ctx, form
        self.ticket_id, self.failed = ticket_id, failed
        self.drafts: dict[str, str] = {}

    @property
    def words(self) -> Mapping[str, str]:
        return WORDS[self.form.session.locale]

    async def refused(self, status: int, error_key: str, reason: str) -> Response:
        metrics.REJECTED.labels(SOURCE, reason).inc()
        outcome = Outcome(status, error=self.words[error_key], failed=self.failed, drafts=self.drafts)
        return await ticket_screen(
            self.request, self.db, self.ctx, self.form.session, self.ticket_id, outcome
        )

    async def checked(self, model: type[M], values: Mapping[str, Any]) -> M | Response:
        """The form's values as the API's request model, or the page saying what is wrong."""
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            kind = exc.errors()[0]["type"]
            return await self.refused(422, ERROR_KEYS.get(kind, "error_invalid"), "invalid_form")

    def auditor(self) -> Caller:
        """The signed-in agent as the audit log names them (as the API does for an agent's token)."""
        session = self.form.session
        actor = Actor(ActorKind.AGENT, session.agent_id, agent=session.agent_name)
        client = self.request.client
        return Caller(actor, session.shop_id, client.host if client else None, self.request.app.state.audit)

    async def carry_out(self, work: Work, done: str, audited: str | None = None) -> Response:
        """Do `work` in one transaction, recorded in the audit log as `audited` when the API's route
        records it too."""
        try:
            async with unit_of_work(self.db) as conn:
                await work(conn)
                if audited is not None:
                    await self.auditor().record(conn, audited, f"ticket:{self.ticket_id}")
        except TicketNotFound as exc:
            if exc.ticket_id != self.ticket_id:  # the other ticket of a merge
                return await self.refused(422, "error_unknown", "not_found")
            metrics.REJECTED.labels(SOURCE, "not_found").inc()
            raise PageRefusal(
                message_page(
                    self.form.session.locale,
                    404,
                    "not_found_title",
                    "not_found_body",
                    session=self.form.session,
                )
            ) from None
        except (ConflictingChange, TransitionRefused, PeopleRefused):
            return await self.refused(409, "error_refused", "conflict")
        return RedirectResponse(f"{COOKIE_PATH}/tickets/{self.ticket_id}?done={done}", 303)


@router.post("/tickets/{ticket_id}/reply")
async def reply(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """A public reply: reply_to_customer, as `POST /v1/tickets/{id}/replies`."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "reply")
    attempt.drafts = {"reply": form.get("body"), "macro_id": form.get("macro_id")}
    body = await attempt.checked(ReplyIn, {"body": form.get("body"), "author_name": form.session.agent_name})
    if isinstance(body, Response):
        return body
    session = form.session

    async def send(conn: Connection) -> None:
        await handlers.reply_to_customer(
            conn,
            ctx,
            session.shop_id,
            ticket_id,
            body.body,
            author_name=body.author_name,
            agent_id=session.agent_id,
        )

    return await attempt.carry_out(send, "reply", "ticket.reply")


@router.post("/tickets/{ticket_id}/note")
async def note(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """An internal note: add_agent_message(internal=True), as `POST /v1/tickets/{id}/notes`."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "note")
    attempt.drafts = {"note": form.get("body")}
    body = await attempt.checked(NoteIn, {"body": form.get("body"), "author_name": form.session.agent_name})
    if isinstance(body, Response):
        return body
    session = form.session

    async def write(conn: Connection) -> None:
        await handlers.add_agent_message(
            conn,
            ctx,
            session.shop_id,
            ticket_id,
            body.body,
            internal=True,
            author_name=body.author_name,
            agent_id=session.agent_id,
        )

    return await attempt.carry_out(write, "note", "ticket.note")


@router.post("/tickets/{ticket_id}/status")
async def status(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """change_status, as `POST /v1/tickets/{id}/status` (a solved ticket back to open is a reopen)."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "status")
    wanted = await attempt.checked(StatusIn, {"status": form.get("status")})
    if isinstance(wanted, Response):
        return wanted
    target: TicketStatus = wanted.status
    shop_id = form.session.shop_id

    async def change(conn: Connection) -> None:
        await handlers.change_status(conn, ctx, shop_id, ticket_id, target)

    return await attempt.carry_out(change, "status", f"ticket.{target.value}")


@router.post("/tickets/{ticket_id}/merge")
async def merge(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """merge_tickets, as `POST /v1/tickets/{id}/merge`; then the surviving ticket's page."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "merge")
    attempt.drafts = {"merge": form.get("into")}
    wanted = await attempt.checked(MergeIn, {"into_ticket_id": form.get("into").strip()})
    if isinstance(wanted, Response):
        return wanted
    into, shop_id = wanted.into_ticket_id, form.session.shop_id

    async def fold(conn: Connection) -> None:
        await handlers.merge_tickets(conn, ctx, shop_id, ticket_id, into)

    answer = await attempt.carry_out(fold, "merge", "ticket.merge")
    if isinstance(answer, RedirectResponse):
        return RedirectResponse(f"{COOKIE_PATH}/tickets/{into}?done=merge", 303)
    return answer


@router.post("/tickets/{ticket_id}/take")
async def take(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """The signed-in agent takes the ticket, as `POST /v1/tickets/{id}/take` with their token."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "assign")

    async def mine(conn: Connection) -> None:
        await people.take(conn, ctx, form.session, ticket_id)

    return await attempt.carry_out(mine, "assign")


@router.post("/tickets/{ticket_id}/assign")
async def assign(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """To a colleague, as `POST /v1/tickets/{id}/assign`."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "assign")
    wanted = await attempt.checked(AssignIn, {"agent_id": form.get("agent_id") or None})
    if isinstance(wanted, Response):
        return wanted
    agent_id = wanted.agent_id or ""

    async def give(conn: Connection) -> None:
        await people.assign(conn, ctx, form.session, ticket_id, agent_id)

    return await attempt.carry_out(give, "assign")


@router.post("/tickets/{ticket_id}/tags")
async def tags(ticket_id: str, request: Request, form: Posted, db: DbDep, ctx: ContextDep) -> Response:
    """Add a tag or remove one, as `POST /v1/tickets/{id}/tags`."""
    attempt = Attempt(request, db, ctx, form, ticket_id, "tags")
    values = {name: [form.get(name)] for name in ("add", "remove") if form.get(name).strip()}
    wanted = await attempt.checked(TagsIn, values or {"add": [""]})
    if isinstance(wanted, Response):
        return wanted
    shop_id = form.session.shop_id

    async def change(conn: Connection) -> None:
        await people.retag_ticket(conn, ctx, shop_id, ticket_id, wanted.add, wanted.remove)

    return await attempt.carry_out(change, "tags")
