"""What a year of order events leaves in intake's schema beside bench/intake_prefill.py's tickets, made
by Postgres itself (INSERT ... SELECT over generate_series): the orders as their events left them, the
"where is my order?" questions with their automatic answers, and survey answers.

    .venv/bin/python -m bench.orders_prefill --schema-prefix bx_ --events 5000000

`events` order events are `events / EVENTS_PER_ORDER` orders (each created, paid, shipped, out for
delivery and delivered, or cancelled, refunded, in return or in repair on the way), whose latest state
intake keeps (intake's fold writes one row per order however many events it took). Order k belongs to
customer k / ORDERS_PER_CUSTOMER, whose shop follows bench/intake_prefill.py's rule (the demo shop's
share, the rest over the other shops); it was placed in the year before `now` in k's order, has a
total and a currency (one in seven in EUR, else PLN). Of the pre-filled tickets, every tenth asked
where its order was (answered automatically, a third of those deflected, a third came back) and
every seventh got a survey answer (CSAT or NPS, a fifth of them unhappy). Then VACUUM ANALYZE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.common import DEMO_SHOP
from bench.intake_prefill import _TICKET, CHUNK, YEAR_SECONDS, Prefill
from runtime.db import Connection

EVENTS_PER_ORDER = 5
ORDERS_PER_CUSTOMER = 4

# Order k: $1 first k, $2 last k, $3 orders, $4 shops, $5 per-mille of the demo shop, $6 now, $7 the
# demo shop's id, $8 seconds in the year. Every value is a function of k alone.
ORDERS_SQL = """
INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email, customer_locale,
                    total, currency, contents_at, placed_at)
SELECT CASE WHEN c % 1000 < $5 THEN $7::text
            ELSE 'pf-shop-' || lpad((1 + c % ($4 - 1))::text, 3, '0') END,
       'pf-h-' || k,
       CASE WHEN k % 50 = 0 THEN 'cancelled' WHEN k % 50 = 1 THEN 'refunded'
            WHEN k % 50 = 2 THEN 'return_requested' WHEN k % 50 = 3 THEN 'repair_received'
            ELSE 'delivered' END,
       placed + interval '3 days', 'pf-c-' || c, 'pf' || c || '@example.com', 'pl',
       20 + (k % 500), CASE WHEN c % 7 = 0 THEN 'EUR' ELSE 'PLN' END, placed, placed
FROM (SELECT k, k / 4 AS c,
             $6::timestamptz - make_interval(secs => ($3 - k)::double precision * $8 / $3) AS placed
      FROM generate_series($1::bigint, $2::bigint) AS k) AS o"""

# Ticket n ($1-$8 as bench/intake_prefill.py's tickets): its "where is my order?" question and answer
WISMO_SQL = f"""
INSERT INTO wismo_contacts (shop_id, ticket_id, order_id, category, order_status, after_notice,
                            answer_message_id, outcome, at, settled_at)
SELECT shop_id, 'tkt-pf-' || n, order_id, 'order_status', 'shipped', n % 20 = 0, 'msg-pf-' || n || '-1',
       CASE n % 30 WHEN 0 THEN 'deflected' WHEN 10 THEN 'came_back' END, created_at,
       CASE WHEN n % 30 IN (0, 10) THEN created_at + interval '1 day' END
FROM ({_TICKET}) AS t WHERE n % 10 = 0"""  # noqa: S608 (no value is pasted: the template is a constant)

ANSWERS_SQL = f"""
INSERT INTO survey_answers (shop_id, survey_id, kind, score, at, detractor, ticket_id, order_id)
SELECT shop_id, 'srv-pf-' || n, CASE WHEN n % 2 = 0 THEN 'csat' ELSE 'nps' END,
       CASE WHEN n % 5 = 0 THEN 1 ELSE 5 END, created_at + interval '2 days', n % 5 = 0,
       'tkt-pf-' || n, order_id
FROM ({_TICKET}) AS t WHERE n % 7 = 0"""  # noqa: S608

TABLES = ("orders", "wismo_contacts", "survey_answers")


@dataclass(frozen=True)
class OrderPrefill:
    events: int
    tickets: Prefill
    """The tickets pre-filled beside (their shops, share and number)."""

    @property
    def orders(self) -> int:
        return self.events // EVENTS_PER_ORDER

    def order_chunks(self, size: int = CHUNK * 4) -> list[tuple[int, int]]:
        return [(first, min(first + size, self.orders) - 1) for first in range(0, self.orders, size)]


async def fill(conn: Connection, plan: OrderPrefill, now: datetime) -> dict[str, Any]:
    """Insert the plan's rows into the connection's schema (its search_path), after the tickets."""
    started = time.monotonic()
    shape = plan.tickets
    for first, last in plan.order_chunks():
        args = (
            first,
            last,
            plan.orders,
            shape.shops,
            shape.demo_per_mille,
            now,
            DEMO_SHOP,
            float(YEAR_SECONDS),
        )
        async with conn.transaction():
            await conn.execute(ORDERS_SQL, *args)
    for first, last in shape.chunks():
        args = (
            first,
            last,
            shape.tickets,
            shape.shops,
            shape.demo_per_mille,
            now,
            DEMO_SHOP,
            float(YEAR_SECONDS),
        )
        async with conn.transaction():
            await conn.execute(WISMO_SQL, *args)
            await conn.execute(ANSWERS_SQL, *args)
    inserted = time.monotonic()
    for table in TABLES:
        await conn.execute(f"VACUUM ANALYZE {table}")
    counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}  # noqa: S608
    return {
        "order_events": plan.events,
        "orders": plan.orders,
        "rows": counts,
        "insert_seconds": round(inserted - started, 1),
        "vacuum_analyze_seconds": round(time.monotonic() - inserted, 1),
    }
