"""The workspace's seam to a shop's people (agents, teams, assignment, macros, tags): who can be named
on a page, what "my tickets and the unassigned ones" is in the listing's query, the macros offered in
the reply box, and taking, assigning and tagging through the same handlers and domain rules the API's
routes use. Everything the workspace knows of people comes through here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.db import Connection

from ..context import Context
from ..domain.agents import PeopleRefused
from ..domain.assignment import retag
from ..domain.macros import MacroFailed, MacroNotFound
from ..domain.ticket import TicketNotFound
from ..handlers import assignment
from ..handlers.macros import render_for_ticket
from ..handlers.writes import apply
from ..repository import agents as agents_repo
from ..repository import macros as macros_repo
from ..repository import tickets as tickets_repo
from ..repository.tickets import TicketFilter
from .session import Session
from .views import Option, QueueFilters

TAGS = True
"""Tickets carry tags the workspace can add and remove."""
ASSIGNMENT = True
"""An agent can take a ticket or give it to a colleague."""


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
    macros = await macros_repo.list_macros(conn, shop_id)
    return Crew(
        names={a.id: a.name for a in agents},
        team_options=[(t.id, t.name) for t in teams],
        macros=[MacroChoice(m["id"], m["name"]) for m in macros],
    )


def queue_filter(filters: QueueFilters, agent_id: str) -> TicketFilter:
    """The tickets API's listing filter for the queue: the agent's own tickets and the unassigned
    ones, narrowed by the page's filters."""
    return TicketFilter(
        status=filters.status,
        channel=filters.channel,
        category=filters.category,
        tag=filters.tag,
        team_id=filters.team,
        mine_or_unassigned=agent_id,
    )


@dataclass(frozen=True)
class MacroDraft:
    id: str
    text: str


async def macro_draft(
    conn: Connection, ctx: Context, session: Session, ticket_id: str, macro_id: str | None
) -> MacroDraft | None:
    """The macro `macro_id` rendered for the ticket's customer and order (the API's preview), for the
    agent to read and edit before sending; None for no macro or an unknown one."""
    shop = ctx.shops.get(session.shop_id)
    if not macro_id or shop is None:
        return None
    try:
        rendered = await render_for_ticket(conn, ctx, shop, ticket_id, macro_id, session.agent_name)
    except (MacroNotFound, MacroFailed, TicketNotFound):
        return None
    return MacroDraft(macro_id, rendered.text)


@dataclass(frozen=True)
class Assignment:
    can_take: bool
    agents: Sequence[Option]


def assignment_view(ticket: Mapping[str, Any], session: Session, people: Crew) -> Assignment | None:
    """Take it, or give it to one of the shop's agents (nothing for a closed ticket)."""
    if not ASSIGNMENT or ticket["status"] == "closed":
        return None
    current = ticket.get("assignee_agent_id")
    options = [Option(agent_id, name, agent_id == current) for agent_id, name in people.names.items()]
    return Assignment(can_take=current != session.agent_id, agents=options)


# -- what the forms do: the API's handlers and rules -----------------------------------------------


async def take(conn: Connection, ctx: Context, session: Session, ticket_id: str) -> None:
    """As `POST /v1/tickets/{id}/take` with the agent's token."""
    agent = await agents_repo.find_agent(conn, session.shop_id, session.agent_id)
    if agent is None or not agent.active:
        raise PeopleRefused("unknown_agent", "the signed-in agent is no longer active")
    await assignment.take(conn, ctx, agent, ticket_id)


async def assign(conn: Connection, ctx: Context, session: Session, ticket_id: str, agent_id: str) -> None:
    """As `POST /v1/tickets/{id}/assign` with an agent: a person decided, whatever their load."""
    by = await agents_repo.find_agent(conn, session.shop_id, session.agent_id)
    await assignment.assign_ticket(
        conn, ctx, session.shop_id, ticket_id, agent_id=agent_id, team_id=None, by=by
    )


async def retag_ticket(
    conn: Connection, ctx: Context, shop_id: str, ticket_id: str, add: Sequence[str], remove: Sequence[str]
) -> None:
    """As `POST /v1/tickets/{id}/tags`: the ticket's tags changed by the domain's rule."""
    ticket = await tickets_repo.ticket_for_update(conn, shop_id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    await apply(conn, ctx, retag(ticket, add, remove, ctx.now()))
