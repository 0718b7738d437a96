"""The threading property again, through the real handlers and SQL: whatever the order in which
contacts (and redeliveries) arrive, interleaved with solves, closes and merges, every message is
stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.clock import ManualClock
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from runtime.shops import ShopRegistry
from schemas.v1.contacts import ContactReceived
from schemas.v1.tickets import TicketStatus
from services.intake import handlers
from services.intake.bootstrap import MIGRATIONS
from services.intake.context import Context
from services.intake.domain.lifecycle import TransitionRefused
from tests.support.shops import SHOP_A
from tests.support.stack import service_connection

pytestmark = pytest.mark.kafka

CUSTOMERS = [("a@example.com", None), ("b@example.com", None), (None, "+48 600 100 200")]


@st.composite
def arrivals(draw: st.DrawFn) -> list[tuple[str, ContactReceived]]:
    count = draw(st.integers(1, 12))
    messages = []
    for i in range(count):
        email, phone = draw(st.sampled_from(CUSTOMERS))
        contact = ContactReceived(
            shop_id=SHOP_A,
            channel=draw(st.sampled_from(["email", "chat"])),
            customer_email=email,
            customer_phone=phone,
            order_id=draw(st.sampled_from([None, "o-1", "o-2"])),
            thread_id=draw(st.sampled_from([None, None, "s-1"])),
            channel_message_id=f"cm-{i}",
            body=f"message {i}",
        )
        messages.append((f"message {i}", contact))
    redelivered = draw(st.lists(st.sampled_from(messages), max_size=5))
    return draw(st.permutations(messages + redelivered))


steps = st.lists(
    st.tuples(
        st.sampled_from(["advance", "solve", "close", "merge"]), st.integers(0, 30), st.integers(0, 30)
    ),
    max_size=6,
)


async def prepare(infra: Settings) -> None:
    service = infra.for_service("intake")
    await ensure_service_schema(service)
    conn = await service_connection(infra, "intake")
    try:
        migrations = load_migrations(RUNTIME_SQL, "runtime") + load_migrations(MIGRATIONS, "intake")
        await apply_migrations(conn, service.db_schema, migrations)
    finally:
        await conn.close()


async def play(
    infra: Settings, deliveries: list[tuple[str, ContactReceived]], interleaved: list[tuple[str, int, int]]
) -> None:
    clock = ManualClock()
    intake = Context(clock.now, "unused-topic", ShopRegistry.from_file(infra.shops_file))
    conn = await service_connection(infra, "intake")
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        await conn.execute("TRUNCATE messages, ticket_threads, tickets, outbox")
        agenda: dict[int, list[tuple[str, int, int]]] = {}
        for step in interleaved:
            agenda.setdefault(step[1] % len(deliveries), []).append(step)
        for position, (_, contact) in enumerate(deliveries):
            for action, a, b in agenda.get(position, []):
                await act(conn, intake, clock, action, a, b)
            async with conn.transaction():
                await handlers.receive_contact(contact, conn, intake)
            clock.advance(timedelta(minutes=1))

        stored = await conn.fetch(
            "SELECT m.body, t.merged_into FROM messages m JOIN tickets t ON t.id = m.ticket_id"
            " WHERE m.author = 'customer'"
        )
        bodies = sorted(r["body"] for r in stored)
        assert bodies == sorted({body for body, _ in deliveries})
        assert all(r["merged_into"] is None for r in stored)  # merged-away tickets keep no messages
    finally:
        await conn.close()


async def act(
    conn: asyncpg.Connection[asyncpg.Record],
    intake: Context,
    clock: ManualClock,
    action: str,
    a: int,
    b: int,
) -> None:
    if action == "advance":
        clock.advance(timedelta(hours=a * 3))
        return
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM tickets WHERE status <> 'closed' ORDER BY id")]
    if not ids:
        return
    async with conn.transaction():
        if action == "merge":
            source, target = ids[a % len(ids)], ids[b % len(ids)]
            if source != target:
                await handlers.merge_tickets(conn, intake, SHOP_A, source, target)
        else:
            status = TicketStatus.SOLVED if action == "solve" else TicketStatus.CLOSED
            with contextlib.suppress(TransitionRefused):  # not expected: open tickets may be solved or closed
                await handlers.change_status(conn, intake, SHOP_A, ids[a % len(ids)], status)


def test_real_threading_never_loses_or_duplicates_a_message(infra: Settings) -> None:
    asyncio.run(prepare(infra))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(deliveries=arrivals(), interleaved=steps)
    def check(deliveries: list[tuple[str, ContactReceived]], interleaved: list[tuple[str, int, int]]) -> None:
        asyncio.run(play(infra, deliveries, interleaved))

    check()
