"""Intake's SQL. Every query is scoped by shop id: a ticket id alone never reaches another shop's data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from schemas.v1.tickets import TicketStatus

from .domain.orders import OrderContext, OrderStatus
from .domain.rules import RuleTable
from .domain.threading import TicketSummary


async def lock_conversation(conn: Connection, shop_id: str, keys: list[str]) -> None:
    """Serialise concurrent contacts of one customer/thread so two of them never both open a ticket.
    Sorted, so two transactions needing the same keys always take them in the same order."""
    for key in sorted(set(keys)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"intake:{shop_id}:{key}")


async def message_by_channel_id(
    conn: Connection, shop_id: str, channel: str, channel_message_id: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, ticket_id FROM messages WHERE shop_id = $1 AND channel = $2 AND channel_message_id = $3",
        shop_id,
        channel,
        channel_message_id,
    )


async def routing_candidates(
    conn: Connection, shop_id: str, customer_key: str, thread_key: str | None, active_since: datetime
) -> list[TicketSummary]:
    rows = await conn.fetch(
        """SELECT t.id, t.status, t.customer_key, t.order_id, t.created_at, t.last_activity_at,
                  t.merged_into IS NOT NULL AS merged,
                  coalesce((SELECT array_agg(th.thread_key) FROM ticket_threads th WHERE th.ticket_id = t.id),
                           '{}') AS thread_keys
           FROM tickets t
           WHERE t.shop_id = $1 AND t.last_activity_at >= $4
             AND (t.customer_key = $2 OR t.id IN (
                   SELECT ticket_id FROM ticket_threads WHERE shop_id = $1 AND thread_key = $3))""",
        shop_id,
        customer_key,
        thread_key,
        active_since,
    )
    return [
        TicketSummary(
            ticket_id=r["id"],
            status=TicketStatus(r["status"]),
            customer_key=r["customer_key"],
            order_id=r["order_id"],
            thread_keys=frozenset(r["thread_keys"]),
            created_at=r["created_at"],
            last_activity_at=r["last_activity_at"],
            merged=r["merged"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class NewTicket:
    id: str
    shop_id: str
    channel: str
    category: str
    priority: str
    subject: str
    source: str
    source_ref: str | None
    customer_key: str
    customer_id: str | None
    customer_email: str | None
    customer_phone: str | None
    customer_handle: str | None
    customer_name: str | None
    customer_locale: str
    order_id: str | None
    is_repeat: bool
    repeat_of: str | None
    at: datetime


async def insert_ticket(conn: Connection, t: NewTicket) -> bool:
    """False if a ticket for the same (shop, source, source_ref) already exists."""
    inserted = await conn.fetchval(
        """INSERT INTO tickets (id, shop_id, status, channel, category, priority, subject, source, source_ref,
               customer_key, customer_id, customer_email, customer_phone, customer_handle, customer_name,
               customer_locale, order_id, is_repeat, repeat_of, created_at, updated_at, last_activity_at)
           VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                   $19, $19, $19)
           ON CONFLICT (shop_id, source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING
           RETURNING true""",
        t.id,
        t.shop_id,
        t.channel,
        t.category,
        t.priority,
        t.subject,
        t.source,
        t.source_ref,
        t.customer_key,
        t.customer_id,
        t.customer_email,
        t.customer_phone,
        t.customer_handle,
        t.customer_name,
        t.customer_locale,
        t.order_id,
        t.is_repeat,
        t.repeat_of,
        t.at,
    )
    return bool(inserted)


@dataclass(frozen=True)
class NewMessage:
    id: str
    ticket_id: str
    shop_id: str
    author: str
    body: str
    at: datetime
    internal: bool = False
    channel: str | None = None
    channel_message_id: str | None = None
    author_name: str | None = None
    subject: str = ""
    attachments: tuple[dict[str, Any], ...] = ()


async def insert_message(conn: Connection, m: NewMessage) -> None:
    await conn.execute(
        """INSERT INTO messages (id, ticket_id, original_ticket_id, shop_id, author, internal, channel,
               channel_message_id, author_name, subject, body, attachments, at)
           VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        m.id,
        m.ticket_id,
        m.shop_id,
        m.author,
        m.internal,
        m.channel,
        m.channel_message_id,
        m.author_name,
        m.subject,
        m.body,
        list(m.attachments),
        m.at,
    )


async def add_thread(conn: Connection, shop_id: str, thread_key: str, ticket_id: str) -> None:
    await conn.execute(
        "INSERT INTO ticket_threads (shop_id, thread_key, ticket_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        shop_id,
        thread_key,
        ticket_id,
    )


async def ticket_for_update(conn: Connection, shop_id: str, ticket_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM tickets WHERE shop_id = $1 AND id = $2 FOR UPDATE", shop_id, ticket_id
    )


async def ticket_with_order(conn: Connection, shop_id: str, ticket_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT t.*, o.status AS order_status, o.status_at AS order_status_at,
                  o.promised_delivery_date AS order_promised_delivery_date
           FROM tickets t LEFT JOIN orders o ON o.shop_id = t.shop_id AND o.order_id = t.order_id
           WHERE t.shop_id = $1 AND t.id = $2""",
        shop_id,
        ticket_id,
    )


async def update_ticket(conn: Connection, ticket_id: str, changes: dict[str, Any]) -> asyncpg.Record:
    """Apply `changes` (column → value; column names come from this module's callers, never from input)."""
    columns = list(changes)
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    row = await conn.fetchrow(
        f"UPDATE tickets SET {assignments} WHERE id = $1 RETURNING *", ticket_id, *changes.values()
    )
    assert row is not None
    return row


async def messages_of(conn: Connection, ticket_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM messages WHERE ticket_id = $1 ORDER BY at, seq", ticket_id)


async def move_conversation(conn: Connection, from_ticket: str, to_ticket: str) -> int:
    moved = await conn.fetchval(
        "WITH m AS (UPDATE messages SET ticket_id = $2 WHERE ticket_id = $1 RETURNING 1)"
        " SELECT count(*) FROM m",
        from_ticket,
        to_ticket,
    )
    await conn.execute(
        """INSERT INTO ticket_threads (shop_id, thread_key, ticket_id)
           SELECT shop_id, thread_key, $2 FROM ticket_threads WHERE ticket_id = $1 ON CONFLICT DO NOTHING""",
        from_ticket,
        to_ticket,
    )
    return int(moved)


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    channel: str | None = None
    category: str | None = None
    priority: str | None = None
    order_id: str | None = None
    customer: str | None = None
    breached: bool | None = None
    is_repeat: bool | None = None


async def list_tickets(
    conn: Connection, shop_id: str, f: TicketFilter, limit: int, offset: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT t.*, o.status AS order_status, o.status_at AS order_status_at,
                  o.promised_delivery_date AS order_promised_delivery_date
           FROM tickets t LEFT JOIN orders o ON o.shop_id = t.shop_id AND o.order_id = t.order_id
           WHERE t.shop_id = $1
             AND ($2::text IS NULL OR t.status = $2)
             AND ($3::text IS NULL OR t.channel = $3)
             AND ($4::text IS NULL OR t.category = $4)
             AND ($5::text IS NULL OR t.priority = $5)
             AND ($6::text IS NULL OR t.order_id = $6)
             AND ($7::text IS NULL OR t.customer_id = $7 OR lower(t.customer_email) = lower($7)
                  OR t.customer_phone = $7 OR t.customer_handle = $7)
             AND ($8::boolean IS NULL OR t.breached = $8)
             AND ($9::boolean IS NULL OR t.is_repeat = $9)
           ORDER BY t.created_at DESC, t.id DESC
           LIMIT $10 OFFSET $11""",
        shop_id,
        f.status,
        f.channel,
        f.category,
        f.priority,
        f.order_id,
        f.customer,
        f.breached,
        f.is_repeat,
        limit,
        offset,
    )


# -- order context -------------------------------------------------------------------------------


OrderKey = tuple[str, str]
"""(shop id, order id): an order's identity in intake's tables."""


def _order_context(row: asyncpg.Record) -> OrderContext:
    return OrderContext(
        status=OrderStatus(row["status"]),
        status_at=row["status_at"],
        customer_id=row["customer_id"],
        customer_email=row["customer_email"],
        customer_locale=row["customer_locale"],
        promised_delivery_date=row["promised_delivery_date"],
    )


async def order_context(conn: Connection, shop_id: str, order_id: str) -> OrderContext | None:
    row = await conn.fetchrow(
        "SELECT * FROM orders WHERE shop_id = $1 AND order_id = $2 FOR UPDATE", shop_id, order_id
    )
    return _order_context(row) if row is not None else None


async def order_contexts(conn: Connection, keys: Sequence[OrderKey]) -> dict[OrderKey, OrderContext]:
    """`order_context` of many orders in one round trip (absent orders are left out), locked in key
    order so two transactions locking overlapping sets cannot deadlock each other."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT * FROM orders
           WHERE (shop_id, order_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY shop_id, order_id FOR UPDATE""",
        [shop_id for shop_id, _ in keys],
        [order_id for _, order_id in keys],
    )
    return {(r["shop_id"], r["order_id"]): _order_context(r) for r in rows}


async def save_order_context(conn: Connection, shop_id: str, order_id: str, o: OrderContext) -> None:
    await save_order_contexts(conn, [((shop_id, order_id), o)])


async def save_order_contexts(conn: Connection, contexts: Sequence[tuple[OrderKey, OrderContext]]) -> None:
    """Upsert many orders in one statement. Each key at most once: one INSERT ... ON CONFLICT cannot
    update the same row twice."""
    if not contexts:
        return
    await conn.execute(
        """INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email,
               customer_locale, promised_delivery_date)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                                $6::text[], $7::text[], $8::date[])
           ON CONFLICT (shop_id, order_id) DO UPDATE SET status = excluded.status,
               status_at = excluded.status_at, customer_id = excluded.customer_id,
               customer_email = excluded.customer_email, customer_locale = excluded.customer_locale,
               promised_delivery_date = excluded.promised_delivery_date""",
        [shop_id for (shop_id, _), _ in contexts],
        [order_id for (_, order_id), _ in contexts],
        [o.status.value for _, o in contexts],
        [o.status_at for _, o in contexts],
        [o.customer_id for _, o in contexts],
        [o.customer_email for _, o in contexts],
        [o.customer_locale for _, o in contexts],
        [o.promised_delivery_date for _, o in contexts],
    )


async def fill_in_customer_id(conn: Connection, shop_id: str, order_id: str, customer_id: str) -> None:
    await fill_in_customer_ids(conn, [((shop_id, order_id), customer_id)])


async def fill_in_customer_ids(conn: Connection, fills: Sequence[tuple[OrderKey, str]]) -> None:
    """Give the order's customer id to its tickets that have none, for many orders in one statement.
    Each key at most once: with two rows for one ticket, UPDATE ... FROM would pick either."""
    if not fills:
        return
    await conn.execute(
        """UPDATE tickets t SET customer_id = f.customer_id
           FROM unnest($1::text[], $2::text[], $3::text[]) AS f (shop_id, order_id, customer_id)
           WHERE t.shop_id = f.shop_id AND t.order_id = f.order_id AND t.customer_id IS NULL""",
        [shop_id for (shop_id, _), _ in fills],
        [order_id for (_, order_id), _ in fills],
        [customer_id for _, customer_id in fills],
    )


async def customer_id_by_email(conn: Connection, shop_id: str, email: str) -> str | None:
    value = await conn.fetchval(
        """SELECT customer_id FROM orders WHERE shop_id = $1 AND lower(customer_email) = lower($2)
           ORDER BY status_at DESC LIMIT 1""",
        shop_id,
        email,
    )
    return str(value) if value is not None else None


# -- rules ---------------------------------------------------------------------------------------


async def shop_rules(conn: Connection, shop_id: str) -> RuleTable | None:
    document = await conn.fetchval("SELECT rules FROM shop_rules WHERE shop_id = $1", shop_id)
    return RuleTable.model_validate(document) if document is not None else None


async def save_shop_rules(conn: Connection, shop_id: str, rules: RuleTable, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO shop_rules (shop_id, rules, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (shop_id) DO UPDATE SET rules = $2, updated_at = $3""",
        shop_id,
        json.loads(rules.model_dump_json()),
        at,
    )


async def delete_shop_rules(conn: Connection, shop_id: str) -> None:
    await conn.execute("DELETE FROM shop_rules WHERE shop_id = $1", shop_id)


# -- metrics -------------------------------------------------------------------------------------


async def open_ticket_counts(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT shop_id, status, count(*) AS n FROM tickets WHERE status IN ('open', 'pending', 'on_hold')"
        " GROUP BY shop_id, status"
    )


async def fcr_ratio(conn: Connection, since: datetime) -> float | None:
    value = await conn.fetchval(
        "SELECT avg(CASE WHEN fcr THEN 1.0 ELSE 0.0 END) FROM tickets"
        " WHERE solved_at >= $1 AND fcr IS NOT NULL",
        since,
    )
    return float(value) if value is not None else None
