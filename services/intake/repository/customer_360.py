"""What GET /v1/customers reads of one customer of a shop: who they are (their ids and e-mails, from
their orders), where they stand (the same standing their tickets carry), their latest orders, returns
and repairs, tickets and survey answers. Every read names the shop and goes through the customer's own
index entries (orders by customer id or e-mail, tickets by customer id or key, answers by order or
ticket)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from runtime.db import Connection

from ..domain.customers import REPAIRS, RETURNS, customer_key
from .customers import PLACED, standing_sql

LISTED = 100
"""The most orders, tickets and answers a 360 lists (newest first); the figures count them all."""


@dataclass(frozen=True)
class Identity:
    """Whose 360 it is: the shop's customer ids and the (lower case) e-mails their orders carry."""

    shop_id: str
    customer_ids: tuple[str, ...]
    emails: tuple[str, ...]

    @property
    def keys(self) -> list[str]:
        """The customer keys their tickets have when they wrote by e-mail."""
        return sorted({customer_key(email, None, None) for email in self.emails})

    def args(self) -> tuple[object, ...]:
        return (self.shop_id, list(self.customer_ids), list(self.emails), self.keys)


async def identity_by_id(conn: Connection, shop_id: str, customer_id: str) -> Identity:
    """The customer with this id of the shop, with the e-mails of their orders."""
    emails = await conn.fetchval(
        """SELECT coalesce(array_agg(DISTINCT lower(customer_email)), '{}') FROM orders
           WHERE shop_id = $1 AND customer_id = $2 AND customer_email IS NOT NULL""",
        shop_id,
        customer_id,
    )
    return Identity(shop_id, (customer_id,), tuple(emails))


async def identity_by_email(conn: Connection, shop_id: str, email: str) -> Identity:
    """The customer with this e-mail, with the shop's customer ids of their orders."""
    ids = await conn.fetchval(
        """SELECT coalesce(array_agg(DISTINCT customer_id), '{}') FROM orders
           WHERE shop_id = $1 AND lower(customer_email) = lower($2)""",
        shop_id,
        email,
    )
    return Identity(shop_id, tuple(ids), (email.strip().lower(),))


_MY_ORDERS = "shop_id = $1 AND (customer_id = ANY($2::text[]) OR lower(customer_email) = ANY($3::text[]))"
_MY_TICKETS = "shop_id = $1 AND (customer_id = ANY($2::text[]) OR customer_key = ANY($3::text[]))"
_FIGURES = f"""
    SELECT {standing_sql("$1", "$2::text[]", "$3::text[]", "$4::text[]")} AS standing,
           (SELECT count(*) FROM orders WHERE {_MY_ORDERS}) AS orders,
           (SELECT count(*) FROM orders WHERE {_MY_ORDERS} AND status = ANY($5::text[])) AS returns,
           (SELECT count(*) FROM orders WHERE {_MY_ORDERS} AND status = ANY($6::text[])) AS repairs,
           t.*
    FROM (SELECT count(*) AS tickets,
                 count(*) FILTER (WHERE status IN ('open', 'pending', 'on_hold')) AS open,
                 count(*) FILTER (WHERE status IN ('solved', 'closed') AND merged_into IS NULL) AS solved,
                 count(*) FILTER (WHERE merged_into IS NOT NULL) AS merged,
                 count(*) FILTER (WHERE is_repeat) AS repeat_contacts,
                 count(*) FILTER (WHERE breached) AS breached
          FROM tickets
          WHERE shop_id = $1 AND (customer_id = ANY($2::text[]) OR customer_key = ANY($4::text[]))) AS t"""  # noqa: S608


async def figures(conn: Connection, who: Identity) -> asyncpg.Record:
    """The standing (as jsonb) and the counts of the customer's orders, returns, repairs and tickets."""
    row = await conn.fetchrow(
        _FIGURES, *who.args(), sorted(s.value for s in RETURNS), sorted(s.value for s in REPAIRS)
    )
    assert row is not None
    return row


async def orders(conn: Connection, who: Identity, statuses: list[str] | None = None) -> list[asyncpg.Record]:
    """The customer's latest orders (of these statuses, if given), newest first."""
    return await conn.fetch(
        f"""SELECT order_id, status, status_at, {PLACED.format(o="orders")} AS placed_at, total, currency
            FROM orders WHERE {_MY_ORDERS} AND ($4::text[] IS NULL OR status = ANY($4::text[]))
            ORDER BY 4 DESC, order_id LIMIT {LISTED}""",  # noqa: S608
        who.shop_id,
        list(who.customer_ids),
        list(who.emails),
        statuses,
    )


async def tickets(conn: Connection, who: Identity) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT id, status, channel, category, priority, subject, order_id, is_repeat, breached,
                   breached_metrics, created_at, solved_at, merged_into
            FROM tickets WHERE {_MY_TICKETS}
            ORDER BY created_at DESC, id DESC LIMIT {LISTED}""",  # noqa: S608
        who.shop_id,
        list(who.customer_ids),
        who.keys,
    )


async def answers(conn: Connection, who: Identity) -> list[asyncpg.Record]:
    """The survey answers about the customer's orders or tickets, newest first."""
    return await conn.fetch(
        f"""SELECT a.survey_id, a.kind, a.score, a.at, a.detractor, a.ticket_id, a.order_id
            FROM (SELECT a.* FROM orders o
                  JOIN survey_answers a ON a.shop_id = o.shop_id AND a.order_id = o.order_id
                  WHERE o.shop_id = $1
                    AND (o.customer_id = ANY($2::text[]) OR lower(o.customer_email) = ANY($3::text[]))
                  UNION
                  SELECT a.* FROM tickets t
                  JOIN survey_answers a ON a.shop_id = t.shop_id AND a.ticket_id = t.id
                  WHERE t.shop_id = $1
                    AND (t.customer_id = ANY($2::text[]) OR t.customer_key = ANY($4::text[]))) a
            ORDER BY a.at DESC, a.survey_id DESC LIMIT {LISTED}""",  # noqa: S608
        *who.args(),
    )
