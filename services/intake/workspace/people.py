"""The workspace's seam to a shop's people (helper "agents": agents, teams, assignment, macros, tags):
who can be named on a page, what "my tickets and the unassigned ones" means for the queue's query, and
the macros offered in the reply box. Everything the workspace knows of people comes through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.db import Connection

from ..context import Context
from ..repository import agents as agents_repo
from ..repository.tickets import TicketFilter
from .session import Session
from .texts import WORDS
from .views import Option, QueueFilters

TAGS = False
"""Whether tickets carry tags the workspace can change (set once the tag handlers exist)."""
ASSIGNMENT = False
"""Whether an agent can take or assign a ticket (set once the assignment handlers exist)."""


@dataclass(frozen=True)
class MacroChoice:
    id: str
    name: str


@dataclass(frozen=True)
class Crew:
    """The shop's active agents (by id: name), its teams, its macros."""

    names: Mapping[str, str] = field(default_factory=dict)
    team_options: Sequence[tuple[str, str]] = ()
    macros: Sequence[MacroChoice] = ()


async def crew(conn: Connection, shop_id: str) -> Crew:
    agents = await agents_repo.list_agents(conn, shop_id)
    teams = await agents_repo.list_teams(conn, shop_id)
    return Crew(
        names={a.id: a.name for a in agents},
        team_options=[(t.id, t.name) for t in teams],
    )


def queue_filter(filters: QueueFilters, agent_id: str) -> TicketFilter:
    """The tickets API's listing filter for the queue."""
    return TicketFilter(status=filters.status, channel=filters.channel, category=filters.category)


@dataclass(frozen=True)
class MacroDraft:
    id: str
    text: str


async def macro_draft(
    conn: Connection, ctx: Context, shop_id: str, ticket: Mapping[str, Any], macro_id: str | None
) -> MacroDraft | None:
    """The macro `macro_id` rendered for the ticket's customer and order, to edit before sending."""
    return None


@dataclass(frozen=True)
class Assignment:
    can_take: bool
    agents: Sequence[Option]


def assignment(ticket: Mapping[str, Any], session: Session, people: Crew, lang: str) -> Assignment | None:
    """Take it, or give it to one of the shop's agents (none while there is no assignment)."""
    if not ASSIGNMENT or ticket["status"] == "closed":
        return None
    current = ticket["assignee_agent_id"]
    options = [Option("", WORDS[lang]["unassigned"], current is None)] + [
        Option(agent_id, name, agent_id == current) for agent_id, name in people.names.items()
    ]
    return Assignment(can_take=current != session.agent_id, agents=options)
