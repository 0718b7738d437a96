"""Tickets, their messages and gateway threads: loading the aggregate, saving its changes, reading
them for the API, and the gauges' counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg

from runtime.db import Connection
from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category, Priority, TicketSource, TicketStatus

from ..domain.ticket import Change, Message, Ticket, TicketCustomer
from .customers import standing_json, standing_of
from .orders import OrderKey


def ticket_of(row: asyncpg.Record) -> Ticket:
    return Ticket(
        id=row["id"],
        shop_id=row["shop_id"],
        status=TicketStatus(row["status"]),
        channel=Channel(row["channel"]),
        category=Category(row["category"]),
        priority=Priority(row["priority"]),
        subject=row["subject"],
        source=TicketSource(row["source"]),
        source_ref=row["source_ref"],
        customer=TicketCustomer(
            key=row["customer_key"],
            id=row["customer_id"],
            email=row["customer_email"],
            phone=row["customer_phone"],
            handle=row["customer_handle"],
            name=row["customer_name"],
            locale=row["customer_locale"],
            standing=standing_of(row["customer_standing"]),
        ),
        order_id=row["order_id"],
        is_repeat=row["is_repeat"],
        repeat_of=row["repeat_of"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
        breached=row["breached"],
        breached_metrics=tuple(row["breached_metrics"]),
        agent_replies=row["agent_replies"],
        reopen_count=row["reopen_count"],
        first_response_at=row["first_response_at"],
        solved_at=row["solved_at"],
        closed_at=row["closed_at"],
        fcr=row["fcr"],
        merged_into=row["merged_into"],
        team_id=row["team_id"],
        assignee_agent_id=row["assignee_agent_id"],
        assigned_at=row["assigned_at"],
        tags=tuple(row["tags"]),
        first_response_agent_id=row["first_response_agent_id"],
        reply_failed_at=row["reply_failed_at"],
        continues_ticket_id=row["continues_ticket_id"],
        pending_since=row["pending_since"],
        reminded_at=row["reminded_at"],
        deflect_at=row["deflect_at"],
    )


_FIELD_COLUMNS = tuple(f.name for f in fields(Ticket) if f.name != "customer")
"""Ticket fields stored under their own name (the customer's are the customer_* columns)."""
_CHANGEABLE = frozenset(_FIELD_COLUMNS) - {"id", "shop_id"}


def _value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _columns(ticket: Ticket) -> dict[str, Any]:
    """The ticket as its row: column -> value."""
    customer = ticket.customer
    return {name: _value(getattr(ticket, name)) for name in _FIELD_COLUMNS} | {
        "customer_key": customer.key,
        "customer_id": customer.id,
        "customer_email": customer.email,
        "customer_phone": customer.phone,
        "customer_handle": customer.handle,
        "customer_name": customer.name,
        "customer_locale": customer.locale,
        "customer_standing": standing_json(customer.standing),
    }


class _Params:
    """Numbered placeholders for a statement built from a change: `p(value)` -> "$n"."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _ticket_statement(change: Change, p: _Params) -> str:
    ticket = change.ticket
    if change.created:
        row = _columns(ticket)
        return (
            f"INSERT INTO tickets ({', '.join(row)}) VALUES ({', '.join(p(v) for v in row.values())})"  # noqa: S608
            " ON CONFLICT (shop_id, source, source_ref) WHERE source_ref IS NOT NULL DO NOTHING"
            " RETURNING id, shop_id"
        )
    where = f"shop_id = {p(ticket.shop_id)} AND id = {p(ticket.id)}"
    if not change.changes:
        return f"SELECT id, shop_id FROM tickets WHERE {where}"  # noqa: S608
    unknown = set(change.changes) - _CHANGEABLE
    if unknown:  # names become SQL: refuse any that is not one of the ticket's own columns
        raise ValueError(f"not a changeable ticket field: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = {p(_value(v))}" for name, v in change.changes.items())
    return f"UPDATE tickets SET {assignments} WHERE {where} RETURNING id, shop_id"  # noqa: S608


def _message_statement(m: Message, p: _Params) -> str:
    # INSERT ... SELECT FROM the ticket's statement: no message without its ticket (a follow-up that
    # already exists), and the casts because a SELECT list does not take the target columns' types
    return f"""INSERT INTO messages (id, ticket_id, original_ticket_id, shop_id, author, internal, channel,
                   channel_message_id, author_name, subject, body, attachments, at, automatic,
                   delivery_status, author_agent_id)
               SELECT {p(m.id, "::text")}, t.id, t.id, t.shop_id, {p(m.author.value, "::text")},
                      {p(m.internal, "::boolean")}, {p(m.channel, "::text")},
                      {p(m.channel_message_id, "::text")}, {p(m.author_name, "::text")},
                      {p(m.subject, "::text")}, {p(m.body, "::text")}, {p(list(m.attachments), "::jsonb")},
                      {p(m.at, "::timestamptz")}, {p(m.automatic, "::boolean")},
                      {p(m.delivery_status, "::text")}, {p(m.agent_id, "::text")}
               FROM t"""  # noqa: S608


async def save(conn: Connection, change: Change, thread_key: str | None = None) -> bool:
    """Write `change` in one statement: the ticket (inserted or its changed fields updated), its new
    message, and the gateway thread it continues. False if a new ticket's source (a survey answer, a
    broken promise) already opened one: then nothing is written."""
    if not (change.created or change.changes or change.message or thread_key):
        return True  # nothing changed (the status it already had)
    p = _Params()
    parts = [f"t AS ({_ticket_statement(change, p)})"]
    if change.message is not None:
        parts.append(f"m AS ({_message_statement(change.message, p)})")
    if thread_key is not None:
        parts.append(
            "th AS (INSERT INTO ticket_threads (shop_id, thread_key, ticket_id)"  # noqa: S608
            f" SELECT t.shop_id, {p(thread_key, '::text')}, t.id FROM t ON CONFLICT DO NOTHING)"
        )
    # Column names come from Ticket's own fields (checked above), values only ever as parameters.
    statement = "WITH " + ", ".join(parts) + " SELECT count(*) FROM t"  # noqa: S608
    return bool(await conn.fetchval(statement, *p.values))


async def ticket_for_update(conn: Connection, shop_id: str, ticket_id: str) -> Ticket | None:
    row = await conn.fetchrow(
        "SELECT * FROM tickets WHERE shop_id = $1 AND id = $2 FOR UPDATE", shop_id, ticket_id
    )
    return ticket_of(row) if row is not None else None


async def tickets_for_update(conn: Connection, shop_id: str, ticket_ids: Sequence[str]) -> dict[str, Ticket]:
    """Lock several tickets in id order (two transactions locking overlapping sets cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT * FROM tickets WHERE shop_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE",
        shop_id,
        list(ticket_ids),
    )
    return {row["id"]: ticket_of(row) for row in rows}


async def move_conversation(conn: Connection, shop_id: str, from_ticket: str, to_ticket: str) -> int:
    """Move a ticket's messages and gateway threads to another ticket of the shop (a merge)."""
    moved = await conn.fetchval(
        """WITH m AS (UPDATE messages SET ticket_id = $3 WHERE shop_id = $1 AND ticket_id = $2 RETURNING 1),
                th AS (INSERT INTO ticket_threads (shop_id, thread_key, ticket_id)
                       SELECT shop_id, thread_key, $3 FROM ticket_threads
                       WHERE shop_id = $1 AND ticket_id = $2
                       ON CONFLICT DO NOTHING)
           SELECT count(*) FROM m""",
        shop_id,
        from_ticket,
        to_ticket,
    )
    return int(moved)


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


# -- reading for the API ---------------------------------------------------------------------------


async def ticket_with_order(conn: Connection, shop_id: str, ticket_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT t.*, o.status AS order_status, o.status_at AS order_status_at,
                  o.promised_delivery_date AS order_promised_delivery_date
           FROM tickets t LEFT JOIN orders o ON o.shop_id = t.shop_id AND o.order_id = t.order_id
           WHERE t.shop_id = $1 AND t.id = $2""",
        shop_id,
        ticket_id,
    )


async def messages_of(conn: Connection, shop_id: str, ticket_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM messages WHERE shop_id = $1 AND ticket_id = $2 ORDER BY at, seq", shop_id, ticket_id
    )


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
    assignee: str | None = None
    unassigned: bool | None = None
    team_id: str | None = None
    tag: str | None = None
    mine_or_unassigned: str | None = None
    """This agent's tickets and the unassigned ones (the workspace's queue)."""


LISTING_ORDERS = {
    "newest": ("", "t.created_at DESC, t.id DESC"),
    "due": (
        " AND t.status IN ('open', 'pending', 'on_hold')",
        "t.sla_due_at ASC NULLS LAST, t.created_at DESC, t.id DESC",
    ),
}
"""`sort` of the listing -> (what it narrows the tickets to, their order). By deadline lists the
unfinished tickets only, the nearest running deadline first: the partial index `tickets_by_due`
(migration 004) holds exactly those in that order, so its condition is spelled here as there."""


def listing_query(sort: str) -> str:
    """The listing's statement: $1 the shop, $2-$9 and $12-$16 the filter (null: any), $10 limit,
    $11 offset."""
    narrowed, order = LISTING_ORDERS[sort]
    # The narrowing and the order are this module's constants; every value is a parameter.
    return f"""SELECT t.*, o.status AS order_status, o.status_at AS order_status_at,
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
             AND ($12::text IS NULL OR t.assignee_agent_id = $12)
             AND ($13::boolean IS NULL OR (t.assignee_agent_id IS NULL) = $13)
             AND ($14::text IS NULL OR t.team_id = $14)
             AND ($15::text IS NULL OR t.tags @> ARRAY[$15::text])
             AND ($16::text IS NULL OR t.assignee_agent_id IS NULL OR t.assignee_agent_id = $16){narrowed}
           ORDER BY {order}
           LIMIT $10 OFFSET $11"""  # noqa: S608


def listing_parameters(shop_id: str, f: TicketFilter, limit: int, offset: int) -> list[Any]:
    return [
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
        f.assignee,
        f.unassigned,
        f.team_id,
        f.tag,
        f.mine_or_unassigned,
    ]


async def list_tickets(
    conn: Connection, shop_id: str, f: TicketFilter, limit: int, offset: int, sort: str = "newest"
) -> list[asyncpg.Record]:
    """The shop's tickets matching `f`, in the order `sort` names (see LISTING_ORDERS)."""
    return await conn.fetch(listing_query(sort), *listing_parameters(shop_id, f, limit, offset))


# -- gauges ----------------------------------------------------------------------------------------


async def open_ticket_counts(conn: Connection, shop_ids: Sequence[str]) -> Mapping[tuple[str, str], int]:
    """(shop, status) -> tickets not yet solved or closed, for the shops intake serves."""
    rows = await conn.fetch(
        """SELECT shop_id, status, count(*) AS n FROM tickets
           WHERE shop_id = ANY($1::text[]) AND status IN ('open', 'pending', 'on_hold')
           GROUP BY shop_id, status""",
        list(shop_ids),
    )
    return {(r["shop_id"], r["status"]): r["n"] for r in rows}


async def fcr_ratio(conn: Connection, shop_ids: Sequence[str], since: datetime) -> float | None:
    """The first-contact-resolution share of the served shops' tickets solved since `since`."""
    value = await conn.fetchval(
        """SELECT avg(CASE WHEN fcr THEN 1.0 ELSE 0.0 END) FROM tickets
           WHERE shop_id = ANY($1::text[]) AND solved_at >= $2 AND fcr IS NOT NULL""",
        list(shop_ids),
        since,
    )
    return float(value) if value is not None else None
