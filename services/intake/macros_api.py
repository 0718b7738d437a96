"""A shop's macros (`/v1/macros`; docs/intake.md "Macros"): canned replies with the customer's and
the order's details, one text per language. `POST /v1/tickets/{id}/replies` with `macro_id` sends
one; `GET /v1/tickets/{id}/macros/{macro_id}` shows what it would say."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runtime.db import Connection, Database
from runtime.http_api import Db, api_context
from runtime.metrics import counted_on_commit
from schemas.templates import MAX_TEMPLATE_CHARS
from schemas.v1.common import PlainText

from .api_models import Problem, refused
from .auth import Caller, CurrentCaller
from .context import Context
from .domain.agents import NotAllowed, Role
from .domain.macros import VARIABLES, Macro, MacroFailed, MacroNotFound, problems
from .domain.ticket import TicketNotFound
from .handlers.macros import render_for_ticket
from .handlers.writes import new_id
from .repository import macros as repo

ContextDep = Annotated[Context, Depends(api_context)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key or agent token"},
    403: {"model": Problem, "description": "an agent (not a lead or admin) does not change macros"},
    404: {"model": Problem, "description": "no such macro (or ticket) in the caller's shop"},
    409: {"model": Problem, "description": "the shop already has a macro of that name"},
    422: {"model": Problem, "description": "invalid body; a text that does not compile or render"},
}

router = APIRouter(tags=["macros"])


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except (MacroNotFound, TicketNotFound) as exc:
        raise refused(404, "not_found", str(exc)) from None
    except MacroFailed as exc:
        raise refused(422, "macro_failed", str(exc)) from None
    except NotAllowed as exc:
        raise refused(403, "forbidden", str(exc)) from None
    except asyncpg.UniqueViolationError:
        raise refused(409, "duplicate", "the shop already has a macro of that name") from None


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with refusals(), counted_on_commit():
        async with db.transaction() as conn:
            yield conn


Texts = Annotated[
    dict[str, Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)]], Field(max_length=5)
]


def _checked(texts: dict[str, str] | None) -> dict[str, str] | None:
    found = problems(texts) if texts is not None else []
    if found:
        raise ValueError("; ".join(found))
    return texts


class MacroIn(PlainText):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    texts: Texts = Field(description=f"language (pl, en) -> template; variables: {', '.join(VARIABLES)}")

    _texts = field_validator("texts")(_checked)


class MacroPatch(PlainText):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")
    texts: Texts | None = None

    _texts = field_validator("texts")(_checked)


class MacroView(BaseModel):
    id: str
    name: str
    texts: dict[str, str]
    created_at: datetime
    updated_at: datetime


class MacroList(BaseModel):
    macros: list[MacroView]
    variables: list[str] = Field(description="what a macro's text may use")


class RenderedView(BaseModel):
    macro_id: str
    ticket_id: str
    language: str
    text: str


def view(row: Any) -> MacroView:
    return MacroView(
        id=row["id"],
        name=row["name"],
        texts=dict(row["texts"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _may_edit(caller: Caller) -> None:
    if caller.agent is not None and caller.agent.role is Role.AGENT:
        raise NotAllowed("an agent uses macros; a lead, an admin or the shop's key changes them")


@router.post("/v1/macros", response_model=MacroView, status_code=201, responses=ERRORS)
async def create_macro(body: MacroIn, caller: CurrentCaller, db: Db, ctx: ContextDep) -> MacroView:
    async with unit_of_work(db) as conn:
        _may_edit(caller)
        row = await repo.insert_macro(
            conn, Macro(caller.shop.id, new_id("mac"), body.name, body.texts), ctx.now()
        )
    return view(row)


@router.get("/v1/macros", response_model=MacroList, responses=ERRORS)
async def list_macros(caller: CurrentCaller, db: Db) -> MacroList:
    async with db.pool.acquire() as conn:
        rows = await repo.list_macros(conn, caller.shop.id)
    return MacroList(macros=[view(r) for r in rows], variables=list(VARIABLES))


@router.get("/v1/macros/{macro_id}", response_model=MacroView, responses=ERRORS)
async def get_macro(macro_id: str, caller: CurrentCaller, db: Db) -> MacroView:
    async with db.pool.acquire() as conn:
        row = await repo.find_macro(conn, caller.shop.id, macro_id)
    if row is None:
        raise refused(404, "not_found", f"macro {macro_id} not found")
    return view(row)


@router.patch("/v1/macros/{macro_id}", response_model=MacroView, responses=ERRORS)
async def patch_macro(
    macro_id: str, body: MacroPatch, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> MacroView:
    """Change the name, or replace the texts (all languages at once)."""
    async with unit_of_work(db) as conn:
        if await repo.find_macro(conn, caller.shop.id, macro_id) is None:
            raise MacroNotFound(macro_id)
        _may_edit(caller)
        row = await repo.update_macro(conn, caller.shop.id, macro_id, body.name, body.texts, ctx.now())
    return view(row)


@router.delete("/v1/macros/{macro_id}", status_code=204, responses=ERRORS)
async def delete_macro(macro_id: str, caller: CurrentCaller, db: Db) -> Response:
    async with unit_of_work(db) as conn:
        if await repo.find_macro(conn, caller.shop.id, macro_id) is None:
            raise MacroNotFound(macro_id)
        _may_edit(caller)
        await repo.delete_macro(conn, caller.shop.id, macro_id)
    return Response(status_code=204)


@router.get("/v1/tickets/{ticket_id}/macros/{macro_id}", response_model=RenderedView, responses=ERRORS)
async def preview(
    ticket_id: str, macro_id: str, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> RenderedView:
    """What the macro says on this ticket (nothing is sent)."""
    async with unit_of_work(db) as conn:
        rendered = await render_for_ticket(conn, ctx, caller.shop, ticket_id, macro_id, caller.agent_name)
    return RenderedView(
        macro_id=macro_id, ticket_id=ticket_id, language=rendered.language, text=rendered.text
    )
