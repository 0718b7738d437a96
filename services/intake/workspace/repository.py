"""The workspace's SQL: its sessions, and what its pages read beside the tickets API's and the Customer
360's own queries (the ticket's order, the tickets of a customer known by no id or e-mail, the
shop's tags). Every query names the shop, except a
session's lookup by the hash of its id (the session is what tells the shop)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from runtime.db import Connection

from ..domain.orders import OrderContext
from ..repository.orders import ORDER_COLUMNS, order_context_of

CUSTOMER_TICKETS_SHOWN = 20


async def open_session(
    conn: Connection,
    *,
    id_sha256: str,
    shop_id: str,
    agent_id: str,
    token_sha256: str,
    locale: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Keep a new session, and forget the shop's expired ones while at it."""
    await conn.execute("DELETE FROM workspace_sessions WHERE shop_id = $1 AND expires_at <= $2", shop_id, now)
    await conn.execute(
        """INSERT INTO workspace_sessions (id_sha256, shop_id, agent_id, token_sha256, locale, created_at,
                                           expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        id_sha256,
        shop_id,
        agent_id,
        token_sha256,
        locale,
        now,
        expires_at,
    )


async def session_of(conn: Connection, id_sha256: str, now: datetime) -> asyncpg.Record | None:
    """The session with its agent, while it has not expired and its agent is active and still holds
    the token it signed in with."""
    return await conn.fetchrow(
        """SELECT s.shop_id, s.agent_id, s.locale, a.name AS agent_name, a.role
           FROM workspace_sessions s
           JOIN agents a ON a.shop_id = s.shop_id AND a.id = s.agent_id
                        AND a.active AND a.token_sha256 = s.token_sha256
           WHERE s.id_sha256 = $1 AND s.expires_at > $2""",
        id_sha256,
        now,
    )


async def close_session(conn: Connection, id_sha256: str) -> None:
    await conn.execute("DELETE FROM workspace_sessions WHERE id_sha256 = $1", id_sha256)


async def set_locale(conn: Connection, id_sha256: str, locale: str) -> None:
    await conn.execute("UPDATE workspace_sessions SET locale = $2 WHERE id_sha256 = $1", id_sha256, locale)


async def order_of(conn: Connection, shop_id: str, order_id: str) -> OrderContext | None:
    """The ticket's order, all intake knows of it."""
    row = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND order_id = $2",  # noqa: S608
        shop_id,
        order_id,
    )
    return order_context_of(row) if row is not None else None


async def tickets_by_key(conn: Connection, shop_id: str, customer_key: str) -> list[asyncpg.Record]:
    """The tickets of a customer the shop knows by no id or e-mail (a phone, a handle), newest first."""
    return await conn.fetch(
        """SELECT id, subject, category, status, source, created_at FROM tickets
           WHERE shop_id = $1 AND customer_key = $2
           ORDER BY created_at DESC LIMIT $3""",
        shop_id,
        customer_key,
        CUSTOMER_TICKETS_SHOWN + 1,
    )


async def shop_tags(conn: Connection, shop_id: str) -> list[str]:
    """The tags on the shop's unfinished tickets: what the queue can be filtered by."""
    rows = await conn.fetch(
        """SELECT DISTINCT unnest(tags) AS tag FROM tickets
           WHERE shop_id = $1 AND status IN ('open', 'pending', 'on_hold') ORDER BY tag""",
        shop_id,
    )
    return [r["tag"] for r in rows]
