"""An agent's words on a ticket: `POST /v1/tickets/{id}/replies` (a text, or one of the shop's macros
rendered for the ticket) and `POST /v1/tickets/{id}/notes`. With an agent's token they are the
agent's (auth.py); with the shop's key they are as they always were."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from runtime.db import Connection, Database
from runtime.http_api import ApiError, Db, api_context
from runtime.metrics import counted_on_commit

from . import metrics
from .api_models import MessageCreated, NoteIn, Problem, ReplyOrMacroIn
from .audit_api import Auditor
from .auth import CurrentCaller
from .context import Context
from .domain.macros import MacroFailed, MacroNotFound
from .domain.ticket import ConflictingChange, TicketNotFound
from .handlers.agents import add_agent_message
from .handlers.macros import render_for_ticket
from .handlers.replies import reply_to_customer

ContextDep = Annotated[Context, Depends(api_context)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body could not be read (not UTF-8 JSON)"},
    401: {"model": Problem, "description": "missing or unknown API key or agent token"},
    404: {"model": Problem, "description": "no such ticket (or macro) in the caller's shop"},
    409: {"model": Problem, "description": "the ticket is closed"},
    413: {"model": Problem, "description": "request body too large"},
    422: {"model": Problem, "description": "invalid body; a macro that does not render for this ticket"},
}
REFUSALS: dict[type[Exception], tuple[int, str]] = {
    TicketNotFound: (404, "not_found"),
    MacroNotFound: (404, "not_found"),
    ConflictingChange: (409, "conflict"),
    MacroFailed: (422, "macro_failed"),
}

router = APIRouter(tags=["tickets"])


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except tuple(REFUSALS) as exc:
        status, error = REFUSALS[type(exc)]
        metrics.REJECTED.labels("http", error).inc()
        raise ApiError(status, error, str(exc)) from None


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with refusals(), counted_on_commit():
        async with db.transaction() as conn:
            yield conn


@router.post(
    "/v1/tickets/{ticket_id}/replies", response_model=MessageCreated, status_code=201, responses=ERRORS
)
async def reply(
    ticket_id: str, body: ReplyOrMacroIn, caller: CurrentCaller, db: Db, ctx: ContextDep, who: Auditor
) -> MessageCreated:
    """An agent's public reply to the customer (the first one is the ticket's first response): sent
    on the ticket's channel (ticket.replied, support.replies; e-mail by notify's SMTP relay). With an
    agent's token the reply is theirs (and their name its author's, unless `author_name` says
    otherwise); with `macro_id` its text is the shop's macro, rendered for this ticket's customer and
    order in their language."""
    author = body.author_name or caller.agent_name
    async with unit_of_work(db) as conn:
        text = body.body
        if body.macro_id is not None:
            rendered = await render_for_ticket(conn, ctx, caller.shop, ticket_id, body.macro_id, author)
            text = rendered.text
        message_id = await reply_to_customer(
            conn,
            ctx,
            caller.shop.id,
            ticket_id,
            text or "",
            author_name=author,
            attachments=body.attachments,
            agent_id=caller.agent_id,
        )
        await who.as_agent(author).record(conn, "ticket.reply", f"ticket:{ticket_id}")
    return MessageCreated(ticket_id=ticket_id, message_id=message_id)


@router.post(
    "/v1/tickets/{ticket_id}/notes", response_model=MessageCreated, status_code=201, responses=ERRORS
)
async def note(
    ticket_id: str, body: NoteIn, caller: CurrentCaller, db: Db, ctx: ContextDep, who: Auditor
) -> MessageCreated:
    """An internal note: agents see it, the customer does not, and it is not a response. With an
    agent's token it is theirs."""
    author = body.author_name or caller.agent_name
    async with unit_of_work(db) as conn:
        message_id = await add_agent_message(
            conn,
            ctx,
            caller.shop.id,
            ticket_id,
            body.body,
            internal=True,
            author_name=author,
            agent_id=caller.agent_id,
        )
        await who.as_agent(author).record(conn, "ticket.note", f"ticket:{ticket_id}")
    return MessageCreated(ticket_id=ticket_id, message_id=message_id)
