"""SQL of the tickets the SLA follows: each one's status and whether an agent has replied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runtime.db import Connection


@dataclass(frozen=True)
class TicketState:
    ticket_id: str
    shop_id: str
    status: str
    agent_replied: bool


async def lock_ticket(conn: Connection, ticket_id: str) -> TicketState | None:
    row = await conn.fetchrow(
        "SELECT ticket_id, shop_id, status, agent_replied FROM tickets WHERE ticket_id = $1 FOR UPDATE",
        ticket_id,
    )
    return None if row is None else TicketState(**dict(row))


async def save_ticket(conn: Connection, ticket: TicketState, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO tickets (ticket_id, shop_id, status, agent_replied, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (ticket_id) DO UPDATE SET status = EXCLUDED.status,
               agent_replied = EXCLUDED.agent_replied, updated_at = EXCLUDED.updated_at""",
        ticket.ticket_id,
        ticket.shop_id,
        ticket.status,
        ticket.agent_replied,
        at,
    )
