"""What a contact costs Postgres, over the real database: a new ticket in at most six round trips
(over HTTP's use case and through the contacts consumer as the service builds it), and every lookup
an index lookup on the customer's or the thread's own rows however many tickets the shop has."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import ContactReceived
from schemas.v1.surveys import SurveyDetractor, SurveyKind
from services.intake import bootstrap, handlers
from services.intake.context import Context
from services.intake.domain.threading import RouteKind
from tests.intake.statements import Recording
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A, SHOP_B

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_TICKET_ROUND_TRIPS = 6
"""Issue #13's ceiling for a new ticket: lock, read, write, and the outbox's insert and notify; and,
before them, the look-up of the customers the shop had erased (issue #18, docs/privacy.md)."""
SHOP_TICKETS = 4000


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


def context(runtime: ServiceRuntime) -> Context:
    return Context(now=lambda: AT, tickets_topic="tickets", shops=runtime.shops)


def contact(**fields: object) -> ContactReceived:
    values: dict[str, object] = {
        "shop_id": SHOP_A,
        "channel": "email",
        "customer_email": "anna@example.com",
        "order_id": "o-1",
        "thread_id": "<root@mail.example>",
        "channel_message_id": "<m1@mail.example>",
        "subject": "Where is my parcel?",
        "body": "Ordered a week ago.",
    }
    return ContactReceived.model_validate(values | fields)


async def seed_order(runtime: ServiceRuntime, shop_id: str, order_id: str, customer_id: str) -> None:
    await runtime.db.pool.execute(
        """INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email)
           VALUES ($1, $2, 'shipped', $3, $4, 'anna@example.com')""",
        shop_id,
        order_id,
        AT,
        customer_id,
    )


async def test_a_new_ticket_from_a_contact_takes_at_most_six_round_trips(runtime: ServiceRuntime) -> None:
    ctx = context(runtime)
    await seed_order(runtime, SHOP_A, "o-1", "cust-1")  # the order, e-mail and thread paths all taken
    async with runtime.db.transaction() as conn:
        recording = Recording(conn)
        result = await handlers.receive_contact(contact(), recording.connection, ctx)
    assert result.outcome is RouteKind.NEW
    assert len(recording.sent) <= NEW_TICKET_ROUND_TRIPS, [s.query[:60] for s in recording.sent]
    assert sum("INSERT INTO outbox" in s.query for s in recording.sent) == 1  # every event at once

    pool = runtime.db.pool
    ticket = await pool.fetchrow("SELECT * FROM tickets WHERE id = $1", result.ticket_id)
    assert ticket is not None
    assert (ticket["shop_id"], ticket["customer_id"], ticket["category"], ticket["status"]) == (
        SHOP_A,
        "cust-1",
        "order_status",
        "open",
    )
    message = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", result.message_id)
    assert message is not None
    assert (message["ticket_id"], message["channel_message_id"]) == (result.ticket_id, "<m1@mail.example>")
    threads = await pool.fetch("SELECT thread_key, ticket_id FROM ticket_threads")
    assert [tuple(r) for r in threads] == [("email:<root@mail.example>", result.ticket_id)]
    outbox = await pool.fetch("SELECT topic, key FROM outbox ORDER BY id")
    assert [tuple(r) for r in outbox] == [("tickets", result.ticket_id)] * 2


async def test_contact_received_opens_a_ticket_in_at_most_six_round_trips(runtime: ServiceRuntime) -> None:
    consumer = bootstrap.contacts_consumer(context(runtime))
    event = make_event("contact.received", "gateway/test", contact(order_id=None))
    async with runtime.db.transaction() as conn:
        recording = Recording(conn)
        await consumer.apply([event], recording.connection)
    assert len(recording.sent) <= NEW_TICKET_ROUND_TRIPS, [s.query[:60] for s in recording.sent]
    assert await runtime.db.pool.fetchval("SELECT count(*) FROM tickets") == 1
    assert await runtime.db.pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_the_next_message_and_a_follow_up_stay_as_cheap(runtime: ServiceRuntime) -> None:
    ctx = context(runtime)
    async with runtime.db.transaction() as conn:
        await handlers.receive_contact(contact(), conn, ctx)
    async with runtime.db.transaction() as conn:
        recording = Recording(conn)
        joined = await handlers.receive_contact(
            contact(channel_message_id="<m2@mail.example>", body="Any news?"), recording.connection, ctx
        )
    assert joined.outcome is RouteKind.JOIN
    # the ticket it joins is locked on its own, after routing: one more than a new ticket
    assert len(recording.sent) <= NEW_TICKET_ROUND_TRIPS + 1

    detractor = SurveyDetractor(
        shop_id=SHOP_A,
        survey_id="srv-1",
        kind=SurveyKind.CSAT,
        score=1,
        customer=Customer(id="cust-1", email="anna@example.com"),
        order_id="o-1",
        at=AT,
    )
    async with runtime.db.transaction() as conn:
        recording = Recording(conn)
        await handlers.on_survey_detractor(
            make_event("survey.detractor", "s", detractor), recording.connection, ctx
        )
    assert len(recording.sent) <= 3  # facts, ticket with its message, the outbox
    assert await runtime.db.pool.fetchval("SELECT count(*) FROM tickets") == 2


# -- independent of the shop's size ----------------------------------------------------------------


async def fill_shop(runtime: ServiceRuntime, shop_id: str, count: int) -> None:
    """`count` tickets of a thousand customers, each with a message, an order, and every other one a
    gateway thread, all recently active: the most routing could have to consider."""
    pool = runtime.db.pool
    await pool.execute(
        """INSERT INTO tickets (id, shop_id, status, channel, category, priority, subject, source,
               customer_key, customer_email, order_id, created_at, updated_at, last_activity_at)
           SELECT $1 || '-t' || n, $1, (ARRAY['open', 'pending', 'solved', 'closed'])[1 + n % 4], 'email',
                  'other', 'normal', 'seed', 'contact', 'email:c' || n % 1000 || '@example.com',
                  'c' || n % 1000 || '@example.com', 'o-' || n, $2, $2, $2
           FROM generate_series(1, $3) AS n""",
        shop_id,
        AT,
        count,
    )
    await pool.execute(
        """INSERT INTO messages (id, ticket_id, original_ticket_id, shop_id, author, channel,
               channel_message_id, body, at)
           SELECT $1 || '-m' || n, $1 || '-t' || n, $1 || '-t' || n, $1, 'customer', 'email',
                  '<seed' || n || '@mail.example>', 'hello', $2
           FROM generate_series(1, $3) AS n""",
        shop_id,
        AT,
        count,
    )
    await pool.execute(
        """INSERT INTO ticket_threads (shop_id, thread_key, ticket_id)
           SELECT $1, 'email:<seed' || n || '@mail.example>', $1 || '-t' || n
           FROM generate_series(2, $2, 2) AS n""",
        shop_id,
        count,
    )
    await pool.execute(
        """INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email)
           SELECT $1, 'o-' || n, 'shipped', $2, 'cust-' || n % 1000, 'c' || n % 1000 || '@example.com'
           FROM generate_series(1, $3) AS n""",
        shop_id,
        AT,
        count,
    )


TICKET_TABLES = frozenset({"tickets", "messages", "ticket_threads", "orders"})
NARROWING = re.compile(
    r"\b(id|customer_key|customer_id|thread_key|ticket_id|order_id|channel_message_id|customer_email)\b"
)
"""A key within the shop: an index condition naming one of these reads that key's own entries."""


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def whole_shop_reads(plan: dict[str, Any], indexes: frozenset[str]) -> list[str]:
    """The plan's reads of intake's per-ticket tables that are not a lookup of one key's entries:
    a sequential scan, or an index condition on the shop alone (all of the shop's rows)."""
    found = []
    for node in nodes(plan):
        if node.get("Relation Name") in TICKET_TABLES and node["Node Type"] == "Seq Scan":
            found.append(f"Seq Scan on {node['Relation Name']}")
        condition = node.get("Index Cond")
        if node.get("Index Name") in indexes and not NARROWING.search(condition or ""):
            found.append(f"{node['Node Type']} using {node['Index Name']}: {condition}")
    return found


async def test_routing_a_contact_reads_only_the_customers_and_the_threads_own_rows(
    runtime: ServiceRuntime,
) -> None:
    for shop_id in (SHOP_A, SHOP_B):
        await fill_shop(runtime, shop_id, SHOP_TICKETS)
    await runtime.db.pool.execute("ANALYZE tickets, messages, ticket_threads, orders")
    ctx = context(runtime)
    known = {"customer_email": "c7@example.com", "order_id": "o-7"}  # a customer with four tickets
    async with runtime.db.transaction() as conn:
        recording = Recording(conn)
        first = await handlers.receive_contact(contact(**known), recording.connection, ctx)
        again = await handlers.receive_contact(
            contact(**known, thread_id="<seed8@mail.example>", channel_message_id="<m2@mail.example>"),
            recording.connection,
            ctx,
        )
        # the first opens a ticket (the customer's one about o-7 is closed); the second continues
        # the gateway thread of ticket 8, which is open
        assert (first.outcome, again.outcome) == (RouteKind.NEW, RouteKind.JOIN)
        sent = [s for s in recording.sent if s.method != "executemany"]
        assert any("ticket_threads" in s.query and "thread_key = $3" in s.query for s in sent)
        indexes = frozenset(
            r["indexname"]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes"
                " WHERE schemaname = current_schema() AND tablename = ANY($1)",
                list(TICKET_TABLES),
            )
        )
        for mode in ("auto", "force_generic_plan"):  # a prepared statement may run a generic plan
            await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
            for statement in sent:
                explained = await conn.fetchval("EXPLAIN (FORMAT JSON) " + statement.query, *statement.args)
                plan = explained[0]["Plan"]  # the pool decodes json
                assert whole_shop_reads(plan, indexes) == [], f"{mode}: {statement.query}"
