"""The "where is my order?" contacts: the order asked about, whether the shop had told the customer
of a delay before, the automatic answer if one went out, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runtime.db import Connection


@dataclass(frozen=True)
class WismoContact:
    shop_id: str
    ticket_id: str
    order_id: str
    category: str
    order_status: str
    after_notice: bool
    answer_message_id: str | None
    at: datetime


async def record(conn: Connection, contact: WismoContact) -> bool:
    """Keep the ticket's contact; a later one after a delay notice marks the ticket's as such. True
    if it was new or became one after a notice (what is counted: once per ticket)."""
    added = await conn.fetchval(
        """INSERT INTO wismo_contacts (shop_id, ticket_id, order_id, category, order_status, after_notice,
                                       answer_message_id, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (shop_id, ticket_id) DO UPDATE SET after_notice = true
           WHERE excluded.after_notice AND NOT wismo_contacts.after_notice
           RETURNING true""",
        contact.shop_id,
        contact.ticket_id,
        contact.order_id,
        contact.category,
        contact.order_status,
        contact.after_notice,
        contact.answer_message_id,
        contact.at,
    )
    return bool(added)


async def settle(conn: Connection, shop_id: str, ticket_id: str, outcome: str, at: datetime) -> None:
    """What became of the answer (deflected, came_back); the caller holds the ticket's lock."""
    await conn.execute(
        """UPDATE wismo_contacts SET outcome = $3, settled_at = $4
           WHERE shop_id = $1 AND ticket_id = $2 AND outcome IS NULL""",
        shop_id,
        ticket_id,
        outcome,
        at,
    )


@dataclass(frozen=True)
class Summary:
    contacts: int
    answered: int
    deflected: int
    came_back: int
    after_notice: int
    delayed_orders: int
    delayed_orders_asked_about: int


async def summary(conn: Connection, shop_id: str, since: datetime, until: datetime) -> Summary:
    """The shop's "where is my order?" contacts from `since` to `until` (both included) and what
    became of their answers; the orders delayed then, and how many of those the customer still asked
    about after the delay."""
    row = await conn.fetchrow(
        """SELECT count(*) AS contacts,
                  count(*) FILTER (WHERE answer_message_id IS NOT NULL) AS answered,
                  count(*) FILTER (WHERE outcome = 'deflected') AS deflected,
                  count(*) FILTER (WHERE outcome = 'came_back') AS came_back,
                  count(*) FILTER (WHERE after_notice) AS after_notice,
                  (SELECT count(*) FROM orders o
                   WHERE o.shop_id = $1 AND o.delayed_at >= $2 AND o.delayed_at <= $3) AS delayed_orders,
                  (SELECT count(*) FROM orders o
                   WHERE o.shop_id = $1 AND o.delayed_at >= $2 AND o.delayed_at <= $3
                     AND EXISTS (SELECT 1 FROM wismo_contacts a
                                 WHERE a.shop_id = o.shop_id AND a.order_id = o.order_id
                                   AND a.at >= o.delayed_at)) AS asked_about
           FROM wismo_contacts WHERE shop_id = $1 AND at >= $2 AND at <= $3""",
        shop_id,
        since,
        until,
    )
    assert row is not None
    return Summary(
        contacts=row["contacts"],
        answered=row["answered"],
        deflected=row["deflected"],
        came_back=row["came_back"],
        after_notice=row["after_notice"],
        delayed_orders=row["delayed_orders"],
        delayed_orders_asked_about=row["asked_about"],
    )
