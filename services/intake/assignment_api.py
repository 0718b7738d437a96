"""Who works a ticket, and its tags (docs/intake.md "Assignment", "Tags").

- `POST /v1/tickets/{id}/assign` {agent_id | team_id}: to an agent, or to a team (by its policy if it
  assigns automatically, else to its unassigned queue);
- `POST /v1/tickets/{id}/take`: with an agent's token, the agent takes the ticket;
- `POST /v1/tickets/{id}/tags` {add, remove}.
The queues are `GET /v1/tickets?assignee=me|none|<agent id>&team=<team id>&tag=<tag>`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.db import Connection, Database
from runtime.http_api import Db, api_context
from runtime.metrics import counted_on_commit
from schemas.v1.common import PlainText

from .api_models import Problem, refused
from .auth import CurrentCaller
from .context import Context
from .domain.agents import PeopleRefused
from .domain.assignment import retag
from .domain.rules import Tag
from .domain.ticket import ConflictingChange, Ticket, TicketNotFound
from .handlers import assignment
from .handlers.writes import apply
from .repository import tickets

ContextDep = Annotated[Context, Depends(api_context)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key or agent token"},
    403: {"model": Problem, "description": "take needs an agent's token"},
    404: {"model": Problem, "description": "no such ticket in the caller's shop"},
    409: {"model": Problem, "description": "the ticket is closed"},
    422: {"model": Problem, "description": "invalid body; an agent or team the shop does not have"},
}

router = APIRouter(tags=["assignment"])


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except TicketNotFound as exc:
        raise refused(404, "not_found", str(exc)) from None
    except ConflictingChange as exc:
        raise refused(409, "conflict", str(exc)) from None
    except PeopleRefused as exc:
        raise refused(422, exc.code, exc.detail) from None


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with refusals(), counted_on_commit():
        async with db.transaction() as conn:
            yield conn


Id = Annotated[str, Field(min_length=1, max_length=64)]


class AssignIn(PlainText):
    """An agent (`agent_id`, optionally with the team to put the ticket in), or a team alone."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Id | None = None
    team_id: Id | None = None

    @model_validator(mode="after")
    def _someone(self) -> AssignIn:
        if self.agent_id is None and self.team_id is None:
            raise ValueError("give agent_id, team_id or both")
        return self


class TagsIn(PlainText):
    model_config = ConfigDict(extra="forbid")

    add: list[Tag] = Field(default_factory=list, max_length=20)
    remove: list[Tag] = Field(default_factory=list, max_length=20)


class AssignmentView(BaseModel):
    ticket_id: str
    team_id: str | None
    assignee_agent_id: str | None = Field(description="null: in the team's unassigned queue")
    assigned_at: datetime | None
    tags: list[str]


def view(ticket: Ticket) -> AssignmentView:
    return AssignmentView(
        ticket_id=ticket.id,
        team_id=ticket.team_id,
        assignee_agent_id=ticket.assignee_agent_id,
        assigned_at=ticket.assigned_at,
        tags=list(ticket.tags),
    )


@router.post("/v1/tickets/{ticket_id}/assign", response_model=AssignmentView, responses=ERRORS)
async def assign_ticket(
    ticket_id: str, body: AssignIn, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> AssignmentView:
    """To an agent (whatever their capacity: a person decided), or to a team: by the team's policy
    if it assigns automatically, else into its unassigned queue. Announced as `ticket.assigned`."""
    async with unit_of_work(db) as conn:
        ticket = await assignment.assign_ticket(
            conn,
            ctx,
            caller.shop.id,
            ticket_id,
            agent_id=body.agent_id,
            team_id=body.team_id,
            by=caller.agent,
        )
    return view(ticket)


@router.post("/v1/tickets/{ticket_id}/take", response_model=AssignmentView, responses=ERRORS)
async def take_ticket(ticket_id: str, caller: CurrentCaller, db: Db, ctx: ContextDep) -> AssignmentView:
    """The calling agent takes the ticket (from the queue or from a colleague)."""
    if caller.agent is None:
        raise refused(403, "not_an_agent", "take needs an agent's token: the shop's key is no agent")
    async with unit_of_work(db) as conn:
        ticket = await assignment.take(conn, ctx, caller.agent, ticket_id)
    return view(ticket)


@router.post("/v1/tickets/{ticket_id}/tags", response_model=AssignmentView, responses=ERRORS)
async def tag_ticket(
    ticket_id: str, body: TagsIn, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> AssignmentView:
    """Add and remove tags (a tag both added and removed is removed)."""
    async with unit_of_work(db) as conn:
        ticket = await tickets.ticket_for_update(conn, caller.shop.id, ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        change = retag(ticket, body.add, body.remove, ctx.now())
        await apply(conn, ctx, change)
    return view(change.ticket)
