"""What assignment reads: a team's agents with their unfinished tickets, the
unassigned queue, an agent's tickets. Every query names the shop."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.db import Connection

from ..domain.assignment import Candidate
from ..domain.ticket import Ticket
from .tickets import ticket_of

UNFINISHED = "('open', 'pending', 'on_hold')"
"""What counts against an agent's capacity: the partial index tickets_by_assignee spells it so."""


async def candidates(conn: Connection, shop_id: str, team_id: str) -> list[Candidate]:
    """The team's agents as assignment sees them, with their unfinished tickets now."""
    rows = await conn.fetch(
        f"""SELECT a.id, a.capacity, a.available, a.active,
                   (SELECT count(*) FROM tickets t
                    WHERE t.shop_id = a.shop_id AND t.assignee_agent_id = a.id
                      AND t.status IN {UNFINISHED}) AS open_tickets
            FROM team_members m JOIN agents a ON a.shop_id = m.shop_id AND a.id = m.agent_id
            WHERE m.shop_id = $1 AND m.team_id = $2""",  # noqa: S608
        shop_id,
        team_id,
    )
    return [Candidate(r["id"], r["capacity"], r["open_tickets"], r["available"], r["active"]) for r in rows]


async def open_counts(conn: Connection, shop_id: str, agent_ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        f"""SELECT assignee_agent_id, count(*) AS n FROM tickets
            WHERE shop_id = $1 AND assignee_agent_id = ANY($2) AND status IN {UNFINISHED}
            GROUP BY assignee_agent_id""",  # noqa: S608
        shop_id,
        list(agent_ids),
    )
    return {r["assignee_agent_id"]: r["n"] for r in rows}


async def queued_teams(conn: Connection) -> list[tuple[str, str]]:
    """(shop, team) of every team that assigns automatically and has tickets waiting unassigned."""
    rows = await conn.fetch(
        f"""SELECT tm.shop_id, tm.id FROM teams tm
            WHERE tm.auto_assign AND EXISTS (
                SELECT 1 FROM tickets t WHERE t.shop_id = tm.shop_id AND t.team_id = tm.id
                  AND t.assignee_agent_id IS NULL AND t.status IN {UNFINISHED})
            ORDER BY tm.shop_id, tm.id"""  # noqa: S608
    )
    return [(r["shop_id"], r["id"]) for r in rows]


async def lock_queue(conn: Connection, shop_id: str, team_id: str, limit: int) -> list[Ticket]:
    """The team's oldest unassigned unfinished tickets, locked; those another transaction holds are
    passed over (never waited for: the team row is held, and a ticket's holder may want it)."""
    rows = await conn.fetch(
        f"""SELECT * FROM tickets
            WHERE shop_id = $1 AND team_id = $2 AND assignee_agent_id IS NULL AND status IN {UNFINISHED}
            ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED""",  # noqa: S608
        shop_id,
        team_id,
        limit,
    )
    return [ticket_of(r) for r in rows]


async def tickets_of_agent(conn: Connection, shop_id: str, agent_id: str) -> list[Ticket]:
    """The agent's unfinished tickets, locked in id order."""
    rows = await conn.fetch(
        f"""SELECT * FROM tickets WHERE shop_id = $1 AND assignee_agent_id = $2 AND status IN {UNFINISHED}
            ORDER BY id FOR UPDATE""",  # noqa: S608
        shop_id,
        agent_id,
    )
    return [ticket_of(r) for r in rows]
