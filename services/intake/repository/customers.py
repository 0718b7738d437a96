"""Where a customer stands (domain/customers.py): their counted orders per currency and whether they are
a detractor, computed by Postgres from their orders and survey answers, kept on their tickets
(`tickets.customer_standing`) and refreshed when either changes; and the survey answers themselves.

A customer is found by the shop's customer id or e-mail (their orders) and by the id or customer key
(their tickets: a survey answer names the ticket or the order it is about)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from runtime.db import Connection

from ..domain.customers import (
    NOT_COUNTED,
    CurrencyHistory,
    CustomerStanding,
    NoCustomerIdentity,
    customer_key,
)

NOT_COUNTED_SQL = "ARRAY[{}]::text[]".format(", ".join(f"'{s.value}'" for s in sorted(NOT_COUNTED)))
"""The order statuses whose total is not counted, as SQL (the domain's constant, no input)."""
PLACED = "coalesce({o}.placed_at, {o}.status_at)"
"""When an order was placed (rows written without placed_at: their status time)."""


def standing_sql(shop: str, customer_ids: str, emails: str, keys: str) -> str:
    """The standing of the customer with these ids or (lower case) e-mails (their orders) and these ids
    or customer keys (their tickets), as jsonb: {"history": [{currency, orders, total, first, last}],
    "detractor"}. The arguments are SQL expressions (text arrays of parameters or of the outer row's
    columns); the aliases inside are the standing's own, so an outer `t` or `o` is never shadowed."""
    mine = (
        f"c_o.shop_id = {shop}"
        f" AND (c_o.customer_id = ANY({customer_ids}) OR lower(c_o.customer_email) = ANY({emails}))"
    )
    placed = PLACED.format(o="c_o")
    return f"""jsonb_build_object(
        'history', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                        'currency', h.currency, 'orders', h.n, 'total', h.total::text,
                                        'first', h.first_at, 'last', h.last_at) ORDER BY h.currency),
                                    '[]'::jsonb)
                    FROM (SELECT c_o.currency, count(*) AS n, sum(c_o.total) AS total,
                                 min({placed}) AS first_at, max({placed}) AS last_at
                          FROM orders c_o
                          WHERE {mine} AND c_o.total IS NOT NULL AND c_o.currency IS NOT NULL
                            AND c_o.status <> ALL({NOT_COUNTED_SQL})
                          GROUP BY c_o.currency) h),
        'detractor', coalesce((
            SELECT bool_or(latest.detractor)
            FROM (SELECT DISTINCT ON (c_a.kind) c_a.detractor
                  FROM (SELECT c_a.* FROM orders c_o
                        JOIN survey_answers c_a ON c_a.shop_id = c_o.shop_id AND c_a.order_id = c_o.order_id
                        WHERE {mine}
                        UNION
                        SELECT c_a.* FROM tickets c_t
                        JOIN survey_answers c_a ON c_a.shop_id = c_t.shop_id AND c_a.ticket_id = c_t.id
                        WHERE c_t.shop_id = {shop}
                          AND (c_t.customer_id = ANY({customer_ids}) OR c_t.customer_key = ANY({keys}))) c_a
                  ORDER BY c_a.kind, c_a.at DESC, c_a.survey_id DESC) latest), false))"""  # noqa: S608


def standing_of(value: Mapping[str, Any] | None) -> CustomerStanding | None:
    """A standing as standing_sql (or standing_json) wrote it; None stays None (not known)."""
    if value is None:
        return None
    history = tuple(
        CurrencyHistory(
            h["currency"],
            int(h["orders"]),
            Decimal(h["total"]),
            datetime.fromisoformat(h["first"]),
            datetime.fromisoformat(h["last"]),
        )
        for h in value["history"]
    )
    return CustomerStanding(history, bool(value["detractor"]))


def standing_json(standing: CustomerStanding | None) -> dict[str, Any] | None:
    if standing is None:
        return None
    history = [
        {
            "currency": h.currency,
            "orders": h.orders,
            "total": str(h.total),
            "first": h.first_at.isoformat(),
            "last": h.last_at.isoformat(),
        }
        for h in standing.history
    ]
    return {"history": history, "detractor": standing.detractor}


# -- refreshing the tickets' copy --------------------------------------------------------------------


@dataclass(frozen=True)
class Whose:
    """Whose standing changed: the shop's customer id, an e-mail, a ticket's customer key."""

    shop_id: str
    customer_id: str | None
    email: str | None = None
    key: str | None = None

    def customer_keys(self) -> set[str]:
        """The customer keys their tickets may have (the key of the e-mail, and the one given)."""
        keys = {self.key} if self.key else set()
        with suppress(NoCustomerIdentity):
            keys.add(customer_key(self.email, None, None))
        return keys


TICKET_STANDING = standing_sql(
    "t.shop_id", "ARRAY[t.customer_id]", "ARRAY[lower(t.customer_email)]", "ARRAY[t.customer_key]"
)
"""The standing of the customer of the ticket `t`: by its customer id, e-mail and customer key."""

_REFRESH = f"""
    WITH changed AS (
        SELECT x.id FROM unnest($1::text[], $2::text[]) AS c (shop_id, customer_id)
        JOIN tickets x ON x.shop_id = c.shop_id AND x.customer_id = c.customer_id
        UNION
        SELECT x.id FROM unnest($3::text[], $4::text[]) AS k (shop_id, customer_key)
        JOIN tickets x ON x.shop_id = k.shop_id AND x.customer_key = k.customer_key),
    locked AS (
        SELECT t.id FROM tickets t JOIN changed ON changed.id = t.id
        WHERE t.status <> 'closed' ORDER BY t.id FOR UPDATE OF t)
    UPDATE tickets t
    SET customer_standing = {TICKET_STANDING}
    FROM locked WHERE t.id = locked.id"""  # noqa: S608
"""The standing of every ticket (not closed) of these customers, locked in id order first, so two
refreshes of overlapping customers never deadlock."""


async def refresh_standings(conn: Connection, whose: Sequence[Whose]) -> None:
    """Recompute the standing on the tickets (not closed: a solved one may reopen) of these customers,
    found by the shop's customer id or by the customer key of the e-mail."""
    by_id = sorted({(w.shop_id, w.customer_id) for w in whose if w.customer_id})
    by_key = sorted({(w.shop_id, key) for w in whose for key in w.customer_keys()})
    if not by_id and not by_key:
        return
    await conn.execute(
        _REFRESH,
        [shop for shop, _ in by_id],
        [customer for _, customer in by_id],
        [shop for shop, _ in by_key],
        [key for _, key in by_key],
    )


# -- survey answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerRow:
    shop_id: str
    survey_id: str
    kind: str
    score: int
    at: datetime
    detractor: bool
    ticket_id: str | None
    order_id: str | None


async def record_answer(conn: Connection, answer: AnswerRow) -> None:
    """Keep the answer once per survey: survey.answered and survey.detractor tell the same answer, in
    either order; once judged unhappy it stays so."""
    await conn.execute(
        """INSERT INTO survey_answers (shop_id, survey_id, kind, score, at, detractor, ticket_id, order_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (shop_id, survey_id) DO UPDATE
           SET detractor = survey_answers.detractor OR excluded.detractor,
               ticket_id = coalesce(survey_answers.ticket_id, excluded.ticket_id),
               order_id = coalesce(survey_answers.order_id, excluded.order_id)""",
        answer.shop_id,
        answer.survey_id,
        answer.kind,
        answer.score,
        answer.at,
        answer.detractor,
        answer.ticket_id,
        answer.order_id,
    )


async def answering_customers(
    conn: Connection, shop_id: str, ticket_id: str | None, order_id: str | None
) -> list[Whose]:
    """Whose answer it is: the customer of the ticket and of the order it names."""
    rows = await conn.fetch(
        """SELECT customer_id, customer_email, customer_key FROM tickets WHERE shop_id = $1 AND id = $2
           UNION ALL
           SELECT customer_id, customer_email, NULL FROM orders WHERE shop_id = $1 AND order_id = $3""",
        shop_id,
        ticket_id,
        order_id,
    )
    return [Whose(shop_id, r["customer_id"], r["customer_email"], r["customer_key"]) for r in rows]
