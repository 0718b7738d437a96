"""What routing a message to a ticket reads: the conversation lock, the facts a new ticket needs, and
the customer's and the thread's own recent tickets. Each is an index lookup whatever the shop's size
(tests/intake/test_round_trips_real.py shows the plans)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.db import Connection
from schemas.v1.tickets import TicketStatus

from ..domain.assignment import TeamRoute
from ..domain.customers import CustomerStanding
from ..domain.orders import OrderContext
from ..domain.rules import DEFAULT_RULES, RuleTable
from ..domain.settings import DEFAULT_AUTOMATIC_ANSWERS, AutomaticAnswers
from ..domain.threading import TicketSummary
from .customers import standing_of, standing_sql
from .orders import order_columns, order_context_of


async def lock_conversation(conn: Connection, shop_id: str, keys: Sequence[str]) -> None:
    """Serialise concurrent contacts of one customer/thread so two of them never both open a ticket.
    Sorted, so two transactions needing the same keys always take them in the same order (unnest
    hands the array over in order), all in one statement."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k",
        [f"intake:{shop_id}:{key}" for key in sorted(set(keys))],
    )


@dataclass(frozen=True)
class Seen:
    """An earlier delivery of the same channel message."""

    message_id: str
    ticket_id: str


STANDING = standing_sql(
    "$1",
    "ARRAY[coalesce($6::text, o.customer_id)]",
    "ARRAY[lower(coalesce($3::text, o.customer_email))]",
    "ARRAY[$7::text]",
)
"""The customer's standing in the facts' statement: by the id given or the order's, the e-mail given
or the order's, and the customer key given."""


@dataclass(frozen=True)
class Facts:
    """What deciding about a message needs besides the tickets: read in one round trip."""

    rules: RuleTable
    """The shop's rule table as it applies to this customer (RuleTable.for_customer)."""
    order: OrderContext | None
    customer_id_by_email: str | None
    """The shop's id of the customer with this e-mail, from their latest order."""
    seen: Seen | None
    standing: CustomerStanding | None = None
    """Where the customer stands (their orders and survey answers): what the rules applied to them."""
    automatic_answers: AutomaticAnswers = DEFAULT_AUTOMATIC_ANSWERS
    """The shop's automatic answers to "where is my order?" (domain/automatic.py)."""
    teams: tuple[TeamRoute, ...] = ()
    """The shop's teams, for a new ticket's team and agent (handlers/routing.py)."""


async def facts(
    conn: Connection,
    shop_id: str,
    *,
    order_id: str | None,
    email: str | None = None,
    channel: str | None = None,
    channel_message_id: str | None = None,
    customer_key: str | None = None,
    customer_id: str | None = None,
) -> Facts:
    """The shop's rule table and automatic answers, the order's context, the customer's id by e-mail
    and an earlier delivery of the same channel message; where the customer stands (by `customer_id`
    or the order's, `email` or the order's, and `customer_key`). Read after the conversation lock: a message
    delivered twice at once is seen by the second."""
    row = await conn.fetchrow(
        f"""SELECT (SELECT rules FROM shop_rules WHERE shop_id = $1) AS rules, {order_columns("o")},
                  {STANDING} AS standing,
                  (SELECT settings FROM shop_settings
                   WHERE shop_id = $1 AND kind = 'automatic_answers') AS automatic_answers,
                  (SELECT b.customer_id FROM orders b
                   WHERE b.shop_id = $1 AND lower(b.customer_email) = lower($3)
                   ORDER BY b.status_at DESC LIMIT 1) AS customer_id_by_email,
                  seen.id AS seen_message_id, seen.ticket_id AS seen_ticket_id,
                  (SELECT json_agg(json_build_array(tm.id, tm.auto_assign, tm.is_default))
                   FROM teams tm WHERE tm.shop_id = $1) AS teams
           FROM (SELECT) AS one
           LEFT JOIN orders o ON o.shop_id = $1 AND o.order_id = $2
           LEFT JOIN messages seen
                  ON seen.shop_id = $1 AND seen.channel = $4 AND seen.channel_message_id = $5""",  # noqa: S608
        shop_id,
        order_id,
        email,
        channel,
        channel_message_id,
        customer_id,
        customer_key,
    )
    assert row is not None
    answers = row["automatic_answers"]
    table = RuleTable.model_validate(row["rules"]) if row["rules"] is not None else DEFAULT_RULES
    standing = standing_of(row["standing"])
    return Facts(
        rules=table.for_customer(standing),
        standing=standing,
        order=order_context_of(row) if row["status"] is not None else None,
        customer_id_by_email=row["customer_id_by_email"],
        seen=Seen(row["seen_message_id"], row["seen_ticket_id"]) if row["seen_message_id"] else None,
        automatic_answers=AutomaticAnswers.model_validate(answers) if answers else DEFAULT_AUTOMATIC_ANSWERS,
        teams=tuple(TeamRoute(*team) for team in row["teams"] or ()),
    )


async def routing_candidates(
    conn: Connection, shop_id: str, customer_key: str, thread_key: str | None, active_since: datetime
) -> list[TicketSummary]:
    """The customer's tickets and the thread's tickets active since `active_since`. Found through
    the customer's own index entries and the thread's, then by primary key: the shop's other tickets
    are never read (an OR over both conditions made Postgres walk all of them)."""
    rows = await conn.fetch(
        """SELECT t.id, t.status, t.customer_key, t.order_id, t.created_at, t.last_activity_at,
                  t.merged_into IS NOT NULL AS merged,
                  ARRAY(SELECT th.thread_key FROM ticket_threads th
                        WHERE th.shop_id = t.shop_id AND th.ticket_id = t.id) AS thread_keys
           FROM (SELECT id FROM tickets WHERE shop_id = $1 AND customer_key = $2
                 UNION
                 SELECT ticket_id FROM ticket_threads WHERE shop_id = $1 AND thread_key = $3) AS mine
           JOIN tickets t ON t.id = mine.id
           WHERE t.shop_id = $1 AND t.last_activity_at >= $4""",
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
