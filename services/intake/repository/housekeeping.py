"""The sweeps' lookups (sweeps.py): a batch of the tickets one housekeeping step may act on, oldest
first, locked. SKIP LOCKED: a ticket another intake instance (or a contact) holds is left to it, so two
instances never act on one ticket twice; the domain decides again on the locked ticket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from runtime.db import Connection

from ..domain.ticket import Ticket
from .tickets import ticket_of

Cutoffs = Mapping[str, datetime]
"""shop id -> the latest instant a ticket's clock may have started at to be due in that shop."""


async def deflection_due(conn: Connection, shop_ids: list[str], now: datetime, limit: int) -> list[Ticket]:
    rows = await conn.fetch(
        """SELECT * FROM tickets
           WHERE deflect_at <= $2 AND status = 'pending' AND shop_id = ANY($1::text[])
           ORDER BY deflect_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
        shop_ids,
        now,
        limit,
    )
    return [ticket_of(r) for r in rows]


async def _due(conn: Connection, condition: str, order: str, cutoffs: Cutoffs, limit: int) -> list[Ticket]:
    if not cutoffs:
        return []
    # `condition` and `order` are this module's constants; values are parameters.
    rows = await conn.fetch(
        f"""SELECT t.* FROM tickets t
           JOIN unnest($1::text[], $2::timestamptz[]) AS s (shop_id, cutoff) ON t.shop_id = s.shop_id
           WHERE {condition}
           ORDER BY {order} LIMIT $3 FOR UPDATE OF t SKIP LOCKED""",  # noqa: S608
        list(cutoffs),
        list(cutoffs.values()),
        limit,
    )
    return [ticket_of(r) for r in rows]


async def unanswered_pending(conn: Connection, cutoffs: Cutoffs, limit: int) -> list[Ticket]:
    """Pending on the customer (no automatic answer waiting) since before the shop's cutoff."""
    return await _due(
        conn,
        "t.status = 'pending' AND t.deflect_at IS NULL AND t.pending_since <= s.cutoff",
        "t.pending_since",
        cutoffs,
        limit,
    )


async def reminders_due(conn: Connection, cutoffs: Cutoffs, limit: int) -> list[Ticket]:
    """Pending on the customer since before the shop's cutoff and not reminded since."""
    return await _due(
        conn,
        "t.status = 'pending' AND t.deflect_at IS NULL AND t.reminded_at IS NULL"
        " AND t.pending_since <= s.cutoff",
        "t.pending_since",
        cutoffs,
        limit,
    )


async def solved_before(conn: Connection, cutoffs: Cutoffs, limit: int) -> list[Ticket]:
    """Solved before the shop's cutoff: to be closed."""
    return await _due(conn, "t.status = 'solved' AND t.solved_at <= s.cutoff", "t.solved_at", cutoffs, limit)
