"""Each ticket's SLA clocks (`ticket_sla_clocks`) and the nearest running deadline kept on the ticket
(`tickets.sla_due_at`, which `GET /v1/tickets?sort=due` orders by)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from runtime.db import Connection

from ..domain.sla_state import ClockKey, ClockState

TicketKey = tuple[str, str]
"""(shop id, ticket id)"""

_COLUMNS = (
    "shop_id",
    "ticket_id",
    "clock_id",
    "metric",
    "status",
    "due_at",
    "target_seconds",
    "elapsed_seconds",
    "started_at",
    "changed_at",
    "warned_at",
    "breached_at",
    "met_at",
    "escalation_level",
    "escalate_to",
)
_TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "integer",
    "double precision",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "integer",
    "text",
)


def clock_of(row: asyncpg.Record) -> ClockState:
    return ClockState(**{name: row[name] for name in _COLUMNS})


async def lock_clocks(
    conn: Connection, keys: Sequence[TicketKey]
) -> tuple[set[TicketKey], dict[ClockKey, ClockState]]:
    """Lock the tickets (in id order, as every multi-ticket lock of intake) and read all their clocks:
    which of the tickets exist in their shop, and the clocks by id."""
    rows = await conn.fetch(
        """WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k (shop_id, ticket_id)),
                locked AS (SELECT t.shop_id, t.id FROM tickets t
                           JOIN k ON t.shop_id = k.shop_id AND t.id = k.ticket_id
                           ORDER BY t.id FOR UPDATE OF t)
           SELECT l.shop_id AS ticket_shop, l.id AS ticket, c.*
           FROM locked l LEFT JOIN ticket_sla_clocks c ON c.shop_id = l.shop_id AND c.ticket_id = l.id""",
        [shop_id for shop_id, _ in keys],
        [ticket_id for _, ticket_id in keys],
    )
    known = {(r["ticket_shop"], r["ticket"]) for r in rows}
    clocks = (clock_of(r) for r in rows if r["clock_id"] is not None)
    return known, {clock.key: clock for clock in clocks}


async def save(
    conn: Connection, changed: Sequence[ClockState], due: Mapping[TicketKey, datetime | None]
) -> None:
    """Upsert the changed clocks and set their tickets' nearest deadline, in one statement."""
    if not changed and not due:
        return
    columns = ", ".join(_COLUMNS)
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_TYPES, start=1))
    updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS[3:])
    n = len(_COLUMNS)
    # Column names are this module's constants; every value is a parameter.
    await conn.execute(
        f"""WITH saved AS (
                INSERT INTO ticket_sla_clocks ({columns}) SELECT * FROM unnest({arrays})
                ON CONFLICT (shop_id, ticket_id, clock_id) DO UPDATE SET {updates}
                RETURNING 1)
            UPDATE tickets t SET sla_due_at = d.due
            FROM unnest(${n + 1}::text[], ${n + 2}::text[], ${n + 3}::timestamptz[]) AS d (shop_id, id, due)
            WHERE t.shop_id = d.shop_id AND t.id = d.id AND t.sla_due_at IS DISTINCT FROM d.due""",  # noqa: S608
        *([getattr(c, name) for c in changed] for name in _COLUMNS),
        [shop_id for shop_id, _ in due],
        [ticket_id for _, ticket_id in due],
        list(due.values()),
    )


async def clocks_of(conn: Connection, shop_id: str, ticket_ids: Sequence[str]) -> dict[str, list[ClockState]]:
    """The shop's tickets' clocks, each ticket's in the order they started."""
    rows = await conn.fetch(
        """SELECT * FROM ticket_sla_clocks WHERE shop_id = $1 AND ticket_id = ANY($2::text[])
           ORDER BY ticket_id, started_at, clock_id""",
        shop_id,
        list(ticket_ids),
    )
    found: dict[str, list[ClockState]] = {}
    for row in rows:
        found.setdefault(row["ticket_id"], []).append(clock_of(row))
    return found
