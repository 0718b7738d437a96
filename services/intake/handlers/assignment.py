"""Who works a ticket after it was opened: assigned by hand, taken by an agent, moved by an SLA
escalation, released when its agent is deactivated, handed out from a team's queue when someone
has room again. Each is a `ticket.assigned` (domain/assignment.py), saved and announced by
`writes.apply` in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.db import Connection
from schemas.envelope import CloudEvent
from schemas.v1.sla import SlaEscalated

from ..context import Context
from ..domain.agents import Agent, PeopleRefused
from ..domain.assignment import assign, escalation_target
from ..domain.ticket import Ticket, TicketNotFound
from ..repository import agents, assignment, tickets
from .routing import pick
from .writes import apply

HAND_OUT_BATCH = 50
"""Waiting tickets one team hands out in one go (its agents' capacity bounds it well before)."""


async def _ticket(conn: Connection, shop_id: str, ticket_id: str) -> Ticket:
    ticket = await tickets.ticket_for_update(conn, shop_id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def assign_ticket(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    ticket_id: str,
    *,
    agent_id: str | None,
    team_id: str | None,
    by: Agent | None = None,
) -> Ticket:
    """To an agent (kept in the ticket's team unless `team_id` names another), or to a team: then
    by the team's policy if it assigns automatically, else to its unassigned queue. A manual
    assignment is the caller's decision: the agent's capacity and availability do not stop it."""
    ticket = await _ticket(conn, shop_id, ticket_id)
    if team_id is not None and await agents.find_team(conn, shop_id, team_id) is None:
        raise PeopleRefused("unknown_team", f"no team {team_id} in the shop")
    if agent_id is not None:
        agent = await agents.find_agent(conn, shop_id, agent_id)
        if agent is None or not agent.active:
            raise PeopleRefused("unknown_agent", f"no active agent {agent_id} in the shop")
        target_team = team_id or ticket.team_id
    else:
        assert team_id is not None, "the API asks for an agent or a team"
        target_team = team_id
        agent_id = await _by_policy(conn, shop_id, team_id, ticket_id)
    change = assign(ticket, agent_id, target_team, "manual", ctx.now(), by_agent_id=by.id if by else None)
    await apply(conn, ctx, change)
    return change.ticket


async def _by_policy(conn: Connection, shop_id: str, team_id: str, ticket_id: str) -> str | None:
    team = await agents.find_team(conn, shop_id, team_id, lock=True)
    if team is None or not team.auto_assign:
        return None
    return (await pick(conn, team, [ticket_id])).get(ticket_id)


async def take(conn: Connection, ctx: Context, agent: Agent, ticket_id: str) -> Ticket:
    """The agent takes the ticket (from the queue, or from someone else), in its team."""
    ticket = await _ticket(conn, agent.shop_id, ticket_id)
    change = assign(ticket, agent.id, ticket.team_id, "take", ctx.now(), by_agent_id=agent.id)
    await apply(conn, ctx, change)
    return change.ticket


async def on_sla_escalated(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """An SLA escalation reassigns the ticket to its level's target (`escalate_to`: the ticket's
    team lead, the shop's admin; domain/assignment.escalation_target). A finished ticket, or a shop
    with nobody to take it, stays as it is."""
    data: SlaEscalated = event.data
    ticket = await tickets.ticket_for_update(conn, data.shop_id, data.ticket_id)
    if ticket is None or ticket.closed:
        return
    people = await agents.list_agents(conn, data.shop_id)
    load = await assignment.open_counts(conn, data.shop_id, [a.id for a in people])
    target = escalation_target(data.escalate_to, ticket.team_id, people, load)
    if target is None:
        return
    change = assign(ticket, target, ticket.team_id, "escalation", ctx.now(), escalation_level=data.level)
    await apply(conn, ctx, change)


async def release_tickets_of(conn: Connection, ctx: Context, shop_id: str, agent_id: str) -> int:
    """A deactivated agent's unfinished tickets go back to their team's queue, and from there to
    whoever of the team has room (if it assigns by itself)."""
    held = await assignment.tickets_of_agent(conn, shop_id, agent_id)
    now = ctx.now()
    if held:
        await apply(conn, ctx, *[assign(t, None, t.team_id, "released", now) for t in held])
        await hand_out(conn, ctx, shop_id, {t.team_id for t in held if t.team_id is not None})
    return len(held)


async def hand_out(conn: Connection, ctx: Context, shop_id: str, team_ids: Iterable[str]) -> int:
    """Someone may have room again (a ticket finished, an agent back or given more capacity, a team
    now assigning): the teams' waiting tickets to whoever has room, by each team's policy."""
    handed = 0
    for team_id in sorted(set(team_ids)):
        handed += await hand_out_queue(conn, ctx, shop_id, team_id, HAND_OUT_BATCH)
    return handed


async def hand_out_queue(conn: Connection, ctx: Context, shop_id: str, team_id: str, limit: int) -> int:
    """The team's oldest unassigned tickets to whoever has room now, by the team's policy (none
    while another transaction holds the team: it hands out, or the sweep does)."""
    team = await agents.find_team(conn, shop_id, team_id, lock=True)
    if team is None or not team.auto_assign:
        return 0
    waiting = await assignment.lock_queue(conn, shop_id, team_id, limit)
    decided = await pick(conn, team, [t.id for t in waiting])
    now = ctx.now()
    changes = [assign(t, decided[t.id], team_id, "auto", now) for t in waiting if t.id in decided]
    if changes:
        await apply(conn, ctx, *changes)
    return len(changes)
