"""Automatic answers to "where is my order?" (domain/automatic.py), in the contact's transaction: the
answer goes out through the one reply path (`reply_to_customer`, marked automatic) and the ticket
waits pending on the customer; a customer writing back is recorded as having come back, and one
writing about an order whose delay the shop had announced is counted as a contact after notice."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.db import Connection
from runtime.metrics import on_commit, shop_label
from schemas.templates import language
from schemas.v1.tickets import Author

from .. import metrics
from ..context import Context
from ..domain import answers, automatic
from ..domain.orders import OrderContext
from ..domain.settings import AutomaticAnswers
from ..domain.ticket import Ticket
from ..repository import orders, tickets, wismo
from .replies import reply_to_customer
from .writes import apply


async def answer_where_is_my_order(
    conn: Connection, ctx: Context, ticket: Ticket, named: OrderContext | None, settings: AutomaticAnswers
) -> str | None:
    """For a ticket just opened by a contact: an automatic answer if it asks where a known order of
    the customer's is and the shop turned them on; returns the answer's message id. A contact after
    a delay notice is counted whether answered or not."""
    if not automatic.asks_where(ticket):
        return None
    if not (settings.enabled or settings.delay_notices):
        return None  # nothing to answer, nothing to count
    open_orders: list[tuple[str, OrderContext]] = []
    if ticket.order_id is None and ticket.customer.email is not None:
        open_orders = await orders.open_orders_of(conn, ticket.shop_id, ticket.customer.email)
    found = automatic.order_in_question(ticket, named, open_orders)
    if found is None:
        return None
    now = ctx.now()
    notice = automatic.notice_at(settings, found.order, now)
    message_id = await _answer(conn, ctx, ticket, found, notice, settings) if settings.enabled else None
    await _record(conn, ticket, found, notice, message_id, now)
    if message_id is not None:
        on_commit(metrics.AUTOMATIC_ANSWERS.labels(shop_label(ticket.shop_id), ticket.category.value).inc)
    return message_id


async def _record(
    conn: Connection,
    ticket: Ticket,
    found: automatic.OrderInQuestion,
    notice: datetime | None,
    message_id: str | None,
    now: datetime,
) -> None:
    contact = wismo.WismoContact(
        shop_id=ticket.shop_id,
        ticket_id=ticket.id,
        order_id=found.order_id,
        category=ticket.category.value,
        order_status=found.order.effective_status(now.date()).value,
        after_notice=notice is not None,
        answer_message_id=message_id,
        at=now,
    )
    if await wismo.record(conn, contact) and notice is not None:
        answered = str(message_id is not None).lower()
        on_commit(metrics.CONTACTS_AFTER_NOTICE.labels(shop_label(ticket.shop_id), answered).inc)


async def _answer(
    conn: Connection,
    ctx: Context,
    ticket: Ticket,
    found: automatic.OrderInQuestion,
    notice: datetime | None,
    settings: AutomaticAnswers,
) -> str:
    shop = ctx.shops.get(ticket.shop_id)
    tz = ZoneInfo(shop.timezone if shop is not None else "UTC")
    now = ctx.now()
    context = answers.answer_context(
        found.order_id,
        found.order,
        now.astimezone(tz).date(),
        notice,
        ticket.customer.name,
        shop.name if shop is not None else ticket.shop_id,
        tz,
    )
    lang = language(ticket.customer.locale, shop.locale if shop is not None else None)
    text = answers.written(lang, context, answers.DEFAULT_ANSWERS, settings.templates).text
    message_id = await reply_to_customer(
        conn, ctx, ticket.shop_id, ticket.id, text, author=Author.SYSTEM, automatic=True
    )
    answered = await tickets.ticket_for_update(conn, ticket.shop_id, ticket.id)
    assert answered is not None  # locked by this transaction since it was opened
    await apply(conn, ctx, automatic.await_customer(answered, settings, now))
    return message_id


async def joined(
    conn: Connection, ticket: Ticket, named: OrderContext | None, settings: AutomaticAnswers, at: datetime
) -> None:
    """The customer's message joined `ticket` (as it was, locked). Writing back to an automatic answer
    is recorded and counted (the ticket itself went to an agent one priority step up:
    Ticket.customer_wrote). A ticket about an order whose delay the shop had announced (a follow-up
    intake opened for a broken promise, say) counts its first such message as a contact after notice."""
    if ticket.deflect_at is not None:
        await wismo.settle(conn, ticket.shop_id, ticket.id, "came_back", at)
        on_commit(metrics.AUTOMATIC_ANSWER_OUTCOMES.labels(shop_label(ticket.shop_id), "came_back").inc)
        return
    if not (settings.delay_notices and ticket.category in automatic.WISMO_CATEGORIES and ticket.order_id):
        return
    if named is None:
        named = await orders.order_of(conn, ticket.shop_id, ticket.order_id)
    found = automatic.order_in_question(ticket, named, [])
    notice = automatic.notice_at(settings, found.order, at) if found is not None else None
    if found is not None and notice is not None:
        await _record(conn, ticket, found, notice, None, at)
