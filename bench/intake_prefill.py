"""A large shop's history in intake's schema, made by Postgres itself (INSERT ... SELECT over
generate_series), so the contact scenario can be measured on a schema that is not empty.

    .venv/bin/python -m bench.intake_prefill --schema-prefix bx_ --tickets 1000000

`Prefill` lays out `tickets` tickets over `shops` shops; the shop the bench's contacts go to (the demo
shop) holds `demo_share` of them and the other shops share the rest. The tickets span the year before
`now` in creation order, most of them closed (as an old shop's are), each with the customer's first
message, an agent's reply when it was answered, its e-mail thread when it came by e-mail, and an
order per customer, so every index a contact reads or writes (the customer's tickets, the thread's,
the channel message ids, the orders by e-mail, the listings) is as large as such a shop's. Rows go in
in chunks of one transaction each, then VACUUM ANALYZE, as autovacuum would have left an old shop's
tables. The columns written are those of intake's first migrations; later columns keep their defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.common import DEMO_SHOP
from runtime.db import Connection
from runtime.settings import Settings

YEAR_SECONDS = 365 * 24 * 3600
CHUNK = 50_000
"""Tickets per transaction: a chunk commits in seconds, and progress shows on a long prefill."""
TABLES = ("tickets", "messages", "ticket_threads", "orders")

# Ticket n (0 <= n < total): $1 first n, $2 last n, $3 total, $4 shops, $5 per-mille of the demo shop,
# $6 now, $7 the demo shop's id. Every expression is a function of n alone, so chunks are independent.
_TICKET = """
    SELECT n,
           CASE WHEN n % 1000 < $5 THEN $7::text
                ELSE 'pf-shop-' || lpad((1 + n % ($4 - 1))::text, 3, '0') END AS shop_id,
           (ARRAY['web_form', 'email', 'chat', 'phone', 'social'])[1 + n % 5] AS channel,
           CASE WHEN n % 100 < 3 THEN 'open' WHEN n % 100 < 5 THEN 'pending'
                WHEN n % 100 < 15 THEN 'solved' ELSE 'closed' END AS status,
           $6::timestamptz - make_interval(secs => ($3 - n)::double precision * $8 / $3) AS created_at,
           'pf' || (n / 3) || '@example.com' AS email,
           'pf-o-' || (n / 3 * 3) AS order_id
    FROM generate_series($1::bigint, $2::bigint) AS n"""

TICKETS_SQL = f"""
INSERT INTO tickets (id, shop_id, status, channel, category, priority, subject, customer_key,
                     customer_email, customer_name, customer_locale, order_id, created_at, updated_at,
                     last_activity_at, agent_replies, first_response_at, solved_at, closed_at, fcr)
SELECT 'tkt-pf-' || n, shop_id, status, channel,
       (ARRAY['order_status', 'delivery_delay', 'return', 'payment', 'product_question', 'other'])[1 + n % 6],
       (ARRAY['normal', 'normal', 'high', 'low'])[1 + n % 4],
       'Where is my parcel? (' || n || ')', 'email:' || email, email, 'Anna Nowak', 'pl',
       CASE WHEN n % 2 = 0 THEN order_id END,
       created_at, created_at + interval '1 hour', created_at + interval '1 hour',
       CASE WHEN status IN ('solved', 'closed') THEN 1 ELSE 0 END,
       CASE WHEN status IN ('solved', 'closed') THEN created_at + interval '20 minutes' END,
       CASE WHEN status IN ('solved', 'closed') THEN created_at + interval '1 hour' END,
       CASE WHEN status = 'closed' THEN created_at + interval '4 days' END,
       CASE WHEN status IN ('solved', 'closed') THEN n % 3 <> 0 END
FROM ({_TICKET}) AS t"""  # noqa: S608 (no value is pasted: the template is a constant)

MESSAGES_SQL = f"""
INSERT INTO messages (id, ticket_id, original_ticket_id, shop_id, author, channel, channel_message_id,
                      author_name, subject, body, at)
SELECT 'msg-pf-' || n || '-' || k, 'tkt-pf-' || n, 'tkt-pf-' || n, shop_id,
       CASE k WHEN 0 THEN 'customer' ELSE 'agent' END,
       channel,
       CASE k WHEN 0 THEN 'pf-' || n || '@mail.example' END,
       CASE k WHEN 0 THEN 'Anna Nowak' ELSE 'Agent' END,
       'Where is my parcel? (' || n || ')',
       CASE k WHEN 0 THEN 'Hello, my order has not arrived yet, could you check it please?'
              ELSE 'Your parcel is on its way, it should arrive tomorrow.' END,
       created_at + k * interval '20 minutes'
FROM ({_TICKET}) AS t
CROSS JOIN generate_series(0, 1) AS k
WHERE k = 0 OR status IN ('solved', 'closed')"""  # noqa: S608

THREADS_SQL = f"""
INSERT INTO ticket_threads (shop_id, thread_key, ticket_id)
SELECT shop_id, 'email:pf-' || n || '@mail.example', 'tkt-pf-' || n
FROM ({_TICKET}) AS t WHERE channel = 'email'"""  # noqa: S608

ORDERS_SQL = f"""
INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email, customer_locale)
SELECT shop_id, order_id, 'delivered', created_at, 'pf-c-' || (n / 3), email, 'pl'
FROM ({_TICKET}) AS t WHERE n % 3 = 0
ON CONFLICT DO NOTHING"""  # noqa: S608

STATEMENTS = (TICKETS_SQL, MESSAGES_SQL, THREADS_SQL, ORDERS_SQL)


@dataclass(frozen=True)
class Prefill:
    tickets: int
    shops: int = 200
    demo_share: float = 0.25
    """Share of the tickets that are the demo shop's: the shop under load is a large one."""

    def __post_init__(self) -> None:
        if self.tickets < 0 or self.shops < 2 or not 0 < self.demo_share <= 1:
            raise ValueError(f"a prefill needs tickets >= 0, shops >= 2 and 0 < share <= 1: {self}")

    @property
    def demo_per_mille(self) -> int:
        return round(self.demo_share * 1000)

    def demo_tickets(self) -> int:
        """How many of the tickets the demo shop holds (ticket n is its when n % 1000 < per-mille)."""
        whole, rest = divmod(self.tickets, 1000)
        return whole * self.demo_per_mille + min(rest, self.demo_per_mille)

    def chunks(self, size: int = CHUNK) -> list[tuple[int, int]]:
        """Inclusive (first, last) ticket numbers of each transaction."""
        return [(first, min(first + size, self.tickets) - 1) for first in range(0, self.tickets, size)]


async def fill(conn: Connection, plan: Prefill, now: datetime) -> dict[str, Any]:
    """Insert the plan's rows into the connection's schema (its search_path), then VACUUM ANALYZE
    the tables; returns the counts and the seconds each part took."""
    started = time.monotonic()
    for first, last in plan.chunks():
        async with conn.transaction():
            for statement in STATEMENTS:
                await conn.execute(
                    statement,
                    first,
                    last,
                    plan.tickets,
                    plan.shops,
                    plan.demo_per_mille,
                    now,
                    DEMO_SHOP,
                    float(YEAR_SECONDS),
                )
    inserted = time.monotonic()
    for table in TABLES:
        await conn.execute(f"VACUUM ANALYZE {table}")
    counts = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in TABLES}  # noqa: S608
    return {
        "tickets": plan.tickets,
        "shops": plan.shops,
        "demo_shop_tickets": plan.demo_tickets(),
        "rows": counts,
        "insert_seconds": round(inserted - started, 1),
        "vacuum_analyze_seconds": round(time.monotonic() - inserted, 1),
    }


async def prefill(settings: Settings, plan: Prefill) -> dict[str, Any]:
    """Fill intake's schema of `settings` (a service's settings, its schema migrated) as its own role."""
    conn = await asyncpg.connect(settings.service_dsn(), server_settings={"search_path": settings.db_schema})
    try:
        return await fill(conn, plan, datetime.now(UTC))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schema-prefix", required=True, help="the prefix of a migrated intake schema")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--shops", type=int, default=200)
    parser.add_argument("--demo-share", type=float, default=0.25)
    args = parser.parse_args()
    settings = Settings().model_copy(update={"schema_prefix": args.schema_prefix}).for_service("intake")
    result = asyncio.run(prefill(settings, Prefill(args.tickets, args.shops, args.demo_share)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
