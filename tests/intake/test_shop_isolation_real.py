"""Two shops using the same order id, customer, gateway thread and channel message id: each sees only
its own rows, through the use cases and the repository, over the real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.v1.contacts import ContactReceived
from schemas.v1.sla import SlaBreached, SlaMetric
from schemas.v1.tickets import Category, TicketStatus
from services.intake import bootstrap, handlers
from services.intake.context import Context
from services.intake.domain.orders import OrderContext, OrderStatus
from services.intake.domain.rules import DEFAULT_RULES, CategoryRule
from services.intake.domain.threading import RouteKind
from services.intake.domain.ticket import TicketNotFound
from services.intake.repository import orders, shop_rules, tickets
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A, SHOP_B

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SAME = {
    "channel": "email",
    "customer_email": "anna@example.com",
    "order_id": "o-1",
    "thread_id": "<root@mail.example>",
    "subject": "Where is my parcel?",
    "body": "Ordered a week ago.",
}


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def receive(
    runtime: ServiceRuntime, ctx: Context, shop_id: str, message_id: str
) -> handlers.ContactOutcome:
    contact = ContactReceived.model_validate({**SAME, "shop_id": shop_id, "channel_message_id": message_id})
    async with runtime.db.transaction() as conn:
        return await handlers.receive_contact(contact, conn, ctx)


async def test_two_shops_with_the_same_ids_never_see_each_others_rows(runtime: ServiceRuntime) -> None:
    ctx = Context(now=lambda: AT, tickets_topic="tickets", shops=runtime.shops)
    late = OrderContext(
        OrderStatus.SHIPPED, AT, "cust-a", "anna@example.com", "pl-PL", AT.date() - timedelta(2)
    )
    delivered = OrderContext(OrderStatus.DELIVERED, AT, "cust-b", "anna@example.com", "en-GB")
    payment_first = DEFAULT_RULES.model_copy(
        update={
            "rules": (CategoryRule(category=Category.PAYMENT, keywords=("parcel",)), *DEFAULT_RULES.rules)
        }
    )
    async with runtime.db.transaction() as conn:
        await orders.save_order_contexts(conn, [((SHOP_A, "o-1"), late), ((SHOP_B, "o-1"), delivered)])
        await shop_rules.save_shop_rules(conn, SHOP_A, payment_first, AT)

    a = await receive(runtime, ctx, SHOP_A, "<m1@mail.example>")
    b = await receive(runtime, ctx, SHOP_B, "<m1@mail.example>")
    # neither a duplicate of, nor a message joining, the other shop's ticket
    assert (a.outcome, b.outcome) == (RouteKind.NEW, RouteKind.NEW)
    assert a.ticket_id != b.ticket_id
    pool = runtime.db.pool
    rows = {
        r["shop_id"]: dict(r)
        for r in await pool.fetch("SELECT shop_id, customer_id, customer_locale, category FROM tickets")
    }
    # each shop's own order, customer and rule table decided its ticket
    assert rows[SHOP_A] == {
        "shop_id": SHOP_A,
        "customer_id": "cust-a",
        "customer_locale": "pl-PL",
        "category": "payment",
    }
    assert rows[SHOP_B] == {
        "shop_id": SHOP_B,
        "customer_id": "cust-b",
        "customer_locale": "en-GB",
        "category": "order_status",
    }

    # the thread continues each shop's own ticket; a redelivery is each shop's own duplicate
    assert (await receive(runtime, ctx, SHOP_B, "<m2@mail.example>")).ticket_id == b.ticket_id
    again = await receive(runtime, ctx, SHOP_B, "<m1@mail.example>")
    assert (again.outcome, again.ticket_id, again.message_id) == (None, b.ticket_id, b.message_id)
    assert (await receive(runtime, ctx, SHOP_A, "<m2@mail.example>")).ticket_id == a.ticket_id

    # shop B's agents and events never reach shop A's ticket
    attempts: list[Callable[[Connection], Awaitable[Any]]] = [
        lambda c: handlers.add_agent_message(c, ctx, SHOP_B, a.ticket_id, "hi", internal=False),
        lambda c: handlers.add_agent_message(c, ctx, SHOP_B, a.ticket_id, "hi", internal=True),
        lambda c: handlers.change_status(c, ctx, SHOP_B, a.ticket_id, TicketStatus.SOLVED),
        lambda c: handlers.reopen(c, ctx, SHOP_B, a.ticket_id),
        lambda c: handlers.merge_tickets(c, ctx, SHOP_B, b.ticket_id, a.ticket_id),
        lambda c: handlers.merge_tickets(c, ctx, SHOP_B, a.ticket_id, b.ticket_id),
    ]
    for attempt in attempts:
        with pytest.raises(TicketNotFound, match=a.ticket_id):
            async with runtime.db.transaction() as conn:
                await attempt(conn)
    breach = SlaBreached(
        shop_id=SHOP_B,
        ticket_id=a.ticket_id,
        clock_id="clk-1",
        metric=SlaMetric.FIRST_RESPONSE,
        policy_id="default",
        channel="email",
        priority="normal",
        target_seconds=3600,
        deadline=AT,
        at=AT,
        lag_seconds=0.1,
    )
    with pytest.raises(Unprocessable, match="unknown ticket"):
        async with runtime.db.transaction() as conn:
            await handlers.on_sla_breached(make_event("sla.breached", "careloop/sla", breach), conn, ctx)
    async with pool.acquire() as conn:
        assert await tickets.ticket_with_order(conn, SHOP_B, a.ticket_id) is None
        assert await tickets.messages_of(conn, SHOP_B, a.ticket_id) == []
        assert len(await tickets.messages_of(conn, SHOP_A, a.ticket_id)) == 2
        mine = await tickets.ticket_for_update(conn, SHOP_A, a.ticket_id)
    assert mine is not None
    assert (mine.status, mine.agent_replies, mine.breached, mine.merged_into) == (
        TicketStatus.OPEN,
        0,
        False,
        None,
    )
