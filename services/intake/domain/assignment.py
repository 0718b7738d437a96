"""Who gets a ticket: a team's policy over its agents, and who an SLA escalation goes to.

Pure: the handlers bring each agent's state (available, capacity, unfinished tickets now) and the
team's round robin cursor, and save what `plan` decides. Only agents that are active, available and
below their capacity get tickets; a ticket nobody can take waits in the unassigned queue.

- round robin: the next agent after the one who got the team's last ticket, in agent id order (an
  agent added or gone changes nothing for the others);
- least open: the agent with the fewest unfinished tickets (ties by agent id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.v1.tickets import TicketAssigned

from .agents import Agent, Policy, Role
from .ticket import Change, ConflictingChange, Ticket

LEAD_TARGETS = frozenset({"team_lead", "lead"})


@dataclass(frozen=True)
class TeamRoute:
    """What routing a new ticket needs of a team (read with the ticket's other facts)."""

    id: str
    auto_assign: bool = False
    is_default: bool = False


def team_for(named: str | None, teams: Sequence[TeamRoute]) -> TeamRoute | None:
    """The team a new ticket goes to: the one its source or rule names, else the shop's default."""
    by_id = {t.id: t for t in teams}
    if named is not None and named in by_id:
        return by_id[named]
    return next((t for t in teams if t.is_default), None)


@dataclass(frozen=True)
class Candidate:
    """An agent as assignment sees them."""

    agent_id: str
    capacity: int
    open_tickets: int
    """Their unfinished tickets (open, pending, on hold) now."""
    available: bool = True
    active: bool = True

    @property
    def takes_tickets(self) -> bool:
        return self.active and self.available


@dataclass(frozen=True)
class Plan:
    assignments: tuple[tuple[str, str], ...]
    """(ticket id, agent id), in the order the tickets came."""
    unassigned: tuple[str, ...]
    """Tickets nobody could take (all full or away): they wait in the queue."""
    cursor: str | None
    """The round robin cursor after the plan: the agent who got the last ticket."""


def plan(
    policy: Policy, candidates: Sequence[Candidate], cursor: str | None, ticket_ids: Sequence[str]
) -> Plan:
    """Hand `ticket_ids` (each once, whatever the input repeats) to the candidates by `policy`."""
    by_id = {c.agent_id: c for c in candidates if c.takes_tickets}
    load = {agent_id: c.open_tickets for agent_id, c in by_id.items()}
    order = sorted(by_id)
    assignments: list[tuple[str, str]] = []
    unassigned: list[str] = []
    for ticket_id in dict.fromkeys(ticket_ids):
        room = [a for a in order if load[a] < by_id[a].capacity]
        chosen = _next(policy, room, load, cursor)
        if chosen is None:
            unassigned.append(ticket_id)
            continue
        load[chosen] += 1
        cursor = chosen
        assignments.append((ticket_id, chosen))
    return Plan(tuple(assignments), tuple(unassigned), cursor)


def _next(policy: Policy, room: Sequence[str], load: dict[str, int], cursor: str | None) -> str | None:
    if not room:
        return None
    if policy is Policy.LEAST_OPEN:
        return min(room, key=lambda a: (load[a], a))
    after = [a for a in room if cursor is None or a > cursor]
    return after[0] if after else room[0]


def escalation_target(
    escalate_to: str, team_id: str | None, agents: Sequence[Agent], open_tickets: dict[str, int]
) -> str | None:
    """The person an SLA escalation to `escalate_to` goes to: an agent's id is that agent;
    `team_lead` (or `lead`) is a lead of the ticket's team, else the shop's admin; anything else
    (`manager`, `admin`) is the shop's admin. Among several: the available first, then the fewest
    unfinished tickets, then id. None when the shop has nobody to take it."""
    active = [a for a in agents if a.active]
    named = [a for a in active if a.id == escalate_to]
    leads = [a for a in active if a.role is Role.LEAD and team_id is not None and team_id in a.team_ids]
    admins = [a for a in active if a.role is Role.ADMIN]
    if named:
        pool = named
    elif escalate_to in LEAD_TARGETS:
        pool = leads or admins
    else:
        pool = admins
    if not pool:
        return None
    return min(pool, key=lambda a: (not a.available, open_tickets.get(a.id, 0), a.id)).id


def assign(
    ticket: Ticket,
    agent_id: str | None,
    team_id: str | None,
    reason: str,
    at: datetime,
    *,
    by_agent_id: str | None = None,
    escalation_level: int | None = None,
) -> Change:
    """The ticket to `agent_id` (None: the unassigned queue) in `team_id`, announced as
    `ticket.assigned`; nothing changes (and nothing is announced) if it is already theirs."""
    if ticket.closed:
        raise ConflictingChange("the ticket is closed; a closed ticket is not assigned")
    if (agent_id, team_id) == (ticket.assignee_agent_id, ticket.team_id):
        return Change(ticket)
    assigned_at = at if agent_id else None
    after = replace(ticket, assignee_agent_id=agent_id, team_id=team_id, assigned_at=assigned_at)
    changes = {"assignee_agent_id": agent_id, "team_id": team_id, "assigned_at": assigned_at}
    event = TicketAssigned(
        **after.event_fields(),
        previous_team_id=ticket.team_id,
        previous_agent_id=ticket.assignee_agent_id,
        reason=reason,
        escalation_level=escalation_level,
        by_agent_id=by_agent_id,
        at=at,
    )
    return Change(after, changes, (event,))


def retag(ticket: Ticket, add: Iterable[str], remove: Iterable[str], at: datetime) -> Change:
    """The ticket's tags with `add` and without `remove` (kept sorted, each once)."""
    tags = tuple(sorted((set(ticket.tags) | set(add)) - set(remove)))
    if tags == ticket.tags:
        return Change(ticket)
    return Change(replace(ticket, tags=tags, updated_at=at), {"tags": tags, "updated_at": at})
