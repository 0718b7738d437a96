"""A new ticket's team and agent: the team the source or the shop's rule table names (else the shop's
default team), and, if that team assigns automatically, one of its agents by the team's policy.

Every path opening a ticket (a contact, a survey follow-up, a broken promise) calls `route_new` with
the shop's teams read among the ticket's other facts (repository/conversations.py), so a shop whose
new ticket needs no agent pays no extra round trip; an automatic assignment takes three more (the
team locked, its agents' load, the cursor moved).

The team's row is the lock of its assignments (cursor and capacity), and nobody waits for it: a
transaction may hold ticket locks, conversation locks or, in a consumer's run of events, another
team's lock already, so waiting could close a cycle. A ticket whose team is busy deciding joins the
team's queue, which the next hand-out (a ticket finished, someone back, the sweep) empties.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.db import Connection
from runtime.metrics import on_commit

from .. import metrics
from ..context import Context
from ..domain.agents import Team
from ..domain.assignment import TeamRoute, assign, plan, team_for
from ..domain.ticket import Change
from ..repository import agents, assignment


async def route_new(conn: Connection, ctx: Context, change: Change, teams: Sequence[TeamRoute]) -> Change:
    """`change` (a ticket being opened) with its team and, by the team's policy, its agent."""
    ticket = change.ticket
    team = team_for(ticket.team_id, teams)
    if team is None:
        return change
    agent_id = None
    if team.auto_assign:
        # the team locked: its cursor and everyone's load are read and moved under the lock
        locked = await agents.find_team(conn, ticket.shop_id, team.id, lock=True)
        if locked is not None and locked.auto_assign:
            agent_id = (await pick(conn, locked, [ticket.id])).get(ticket.id)
        if agent_id is None:  # nobody with room, or the team busy deciding: its queue
            on_commit(metrics.ASSIGNMENTS.labels("queued").inc)
    if agent_id is None and team.id == ticket.team_id:
        return change
    return change.then(assign(ticket, agent_id, team.id, "auto", ctx.now()))


async def pick(conn: Connection, team: Team, ticket_ids: list[str]) -> dict[str, str]:
    """Ticket -> agent by the team's policy (the team row locked by the caller); moves the cursor.
    Tickets nobody can take now are left out (they wait in the team's queue)."""
    people = await assignment.candidates(conn, team.shop_id, team.id)
    decided = plan(team.policy, people, team.last_agent_id, ticket_ids)
    if decided.cursor != team.last_agent_id:
        await agents.move_cursor(conn, team.shop_id, team.id, decided.cursor)
    return dict(decided.assignments)
