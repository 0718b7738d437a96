"""What the housekeeping sweeps do to one locked ticket (domain/housekeeping.py decides): solve a
deflected automatic answer, solve a ticket left pending, remind its customer, close a solved ticket.
Each returns whether it acted; each writes its change and events in the sweep's transaction."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.db import Connection
from runtime.metrics import on_commit, shop_label
from schemas.templates import language
from schemas.v1.tickets import Author

from .. import metrics
from ..context import Context
from ..domain import answers, housekeeping
from ..domain.settings import Housekeeping
from ..domain.ticket import Ticket
from ..repository import wismo
from .replies import reply_to_customer
from .writes import apply


async def deflect(conn: Connection, ctx: Context, ticket: Ticket, now: datetime) -> bool:
    change = housekeeping.deflect(ticket, now)
    if change is None:
        return False
    await apply(conn, ctx, change)
    await wismo.settle(conn, ticket.shop_id, ticket.id, "deflected", now)
    on_commit(metrics.AUTOMATIC_ANSWER_OUTCOMES.labels(shop_label(ticket.shop_id), "deflected").inc)
    return True


async def solve_unanswered(
    conn: Connection, ctx: Context, ticket: Ticket, settings: Housekeeping, now: datetime
) -> bool:
    change = housekeeping.solve_unanswered(ticket, settings, now)
    if change is None:
        return False
    await apply(conn, ctx, change)
    on_commit(metrics.HOUSEKEEPING.labels("no_reply").inc)
    return True


async def remind(
    conn: Connection, ctx: Context, ticket: Ticket, settings: Housekeeping, now: datetime
) -> bool:
    """One reminder to the customer, through the reply path (automatic), and the ticket marked."""
    change = housekeeping.remind(ticket, settings, now)
    if change is None:
        return False
    shop = ctx.shops.get(ticket.shop_id)
    tz = ZoneInfo(shop.timezone if shop is not None else "UTC")
    solves = housekeeping.solves_on(ticket, settings)
    context = answers.reminder_context(
        ticket.id,
        ticket.subject,
        solves.astimezone(tz).date() if solves is not None else None,
        ticket.customer.name,
        shop.name if shop is not None else ticket.shop_id,
    )
    lang = language(ticket.customer.locale, shop.locale if shop is not None else None)
    text = answers.written(lang, context, answers.DEFAULT_REMINDERS, settings.reminder_templates).text
    await reply_to_customer(conn, ctx, ticket.shop_id, ticket.id, text, author=Author.SYSTEM, automatic=True)
    # the reply changed other fields of the ticket; this change writes only `reminded_at`
    await apply(conn, ctx, change)
    on_commit(metrics.HOUSEKEEPING.labels("reminded").inc)
    return True


async def auto_close(
    conn: Connection, ctx: Context, ticket: Ticket, settings: Housekeeping, now: datetime
) -> bool:
    change = housekeeping.auto_close(ticket, settings, now)
    if change is None:
        return False
    await apply(conn, ctx, change)
    on_commit(metrics.HOUSEKEEPING.labels("auto_close").inc)
    return True
