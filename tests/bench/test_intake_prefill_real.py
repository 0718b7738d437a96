"""bench/intake_prefill.py on intake's real, migrated schema: the rows a large shop's history has, in
the shape intake itself reads (a prefilled ticket loads as the aggregate), and a contact after it
still opens a new ticket through the service's own path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bench.common import DEMO_SHOP
from bench.intake_prefill import Prefill, fill
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.v1.contacts import ContactReceived
from schemas.v1.tickets import TicketStatus
from services.intake import bootstrap, handlers
from services.intake.context import Context
from services.intake.domain.threading import RouteKind
from services.intake.repository import tickets
from tests.support.batches import service_storage

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PLAN = Prefill(tickets=3000, shops=200, demo_share=0.25)


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def test_the_prefill_lays_out_a_shop_s_year_of_tickets_intake_can_read(runtime: ServiceRuntime) -> None:
    async with runtime.db.pool.acquire() as conn:
        result = await fill(conn, PLAN, NOW)
        by_shop = {
            r["shop_id"]: r["n"]
            for r in await conn.fetch("SELECT shop_id, count(*) AS n FROM tickets GROUP BY shop_id")
        }
        answered = await conn.fetchval("SELECT count(*) FROM tickets WHERE status IN ('solved', 'closed')")
        customer_messages = await conn.fetchval(
            """SELECT count(DISTINCT m.ticket_id) FROM messages m JOIN tickets t ON t.id = m.ticket_id
               WHERE m.author = 'customer' AND m.shop_id = t.shop_id AND m.channel_message_id IS NOT NULL"""
        )
        email_tickets = await conn.fetchval("SELECT count(*) FROM tickets WHERE channel = 'email'")
        threaded = await conn.fetchval(
            """SELECT count(*) FROM ticket_threads th JOIN tickets t
                   ON t.id = th.ticket_id AND t.shop_id = th.shop_id AND t.channel = 'email'"""
        )
        span = await conn.fetchrow("SELECT min(created_at) AS first, max(created_at) AS last FROM tickets")
        analyzed = await conn.fetchval(
            """SELECT count(*) FROM pg_stat_user_tables
               WHERE schemaname = current_schema() AND relname = ANY($1::text[])
                 AND last_analyze IS NOT NULL AND last_vacuum IS NOT NULL""",
            ["tickets", "messages", "ticket_threads", "orders"],
        )
        prefilled = await tickets.ticket_for_update(conn, DEMO_SHOP, "tkt-pf-0")

    assert result["rows"]["tickets"] == PLAN.tickets == sum(by_shop.values())
    assert len(by_shop) == PLAN.shops
    assert by_shop[DEMO_SHOP] == PLAN.demo_tickets() == result["demo_shop_tickets"] == 750
    assert customer_messages == PLAN.tickets
    assert result["rows"]["messages"] == PLAN.tickets + answered
    assert 0 < email_tickets == threaded == result["rows"]["ticket_threads"]
    assert result["rows"]["orders"] == PLAN.tickets // 3  # one per customer, a customer every 3 tickets
    assert span is not None
    assert (NOW - span["first"]).days == 365  # ticket 0 a year before `now`, the rest after it
    assert span["last"] < NOW
    assert analyzed == 4
    assert prefilled is not None
    assert (prefilled.status, prefilled.channel.value) == (TicketStatus.OPEN, "web_form")
    assert prefilled.customer.key == "email:pf0@example.com"


async def test_a_new_customer_s_contact_after_the_prefill_opens_a_ticket(runtime: ServiceRuntime) -> None:
    async with runtime.db.pool.acquire() as conn:
        await fill(conn, PLAN, NOW)
    ctx = Context(now=lambda: NOW, tickets_topic="tickets", shops=runtime.shops)
    contact = ContactReceived.model_validate(
        {
            "shop_id": DEMO_SHOP,
            "channel": "web_form",
            "customer_email": "bench.new@example.com",
            "subject": "Where is my parcel?",
            "body": "Hello, my order has not arrived yet.",
            "channel_message_id": "bench-new-1",
        }
    )
    async with runtime.db.pool.acquire() as conn, conn.transaction():
        outcome = await handlers.receive_contact(contact, conn, ctx)
    assert outcome.outcome is RouteKind.NEW
    count = await runtime.db.pool.fetchval("SELECT count(*) FROM tickets WHERE shop_id = $1", DEMO_SHOP)
    assert count == PLAN.demo_tickets() + 1
