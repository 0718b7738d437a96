"""Macros: a shop's canned replies, rendered for one ticket's customer and order (domain/macros.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from runtime.db import Connection
from runtime.shops import Shop

from ..context import Context
from ..domain.macros import MacroFacts, MacroNotFound, Rendered, render
from ..domain.ticket import TicketNotFound
from ..repository import macros, tickets


async def render_for_ticket(
    conn: Connection, ctx: Context, shop: Shop, ticket_id: str, macro_id: str, agent_name: str | None
) -> Rendered:
    """The macro's text for this ticket, in its customer's language (else the shop's)."""
    row = await macros.find_macro(conn, shop.id, macro_id)
    if row is None:
        raise MacroNotFound(macro_id)
    ticket = await tickets.ticket_for_update(conn, shop.id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    order = await macros.order_of(conn, shop.id, ticket.order_id) if ticket.order_id else None
    facts = MacroFacts(
        ticket_id=ticket.id,
        subject=ticket.subject,
        customer_name=ticket.customer.name,
        customer_email=ticket.customer.email,
        customer_locale=ticket.customer.locale,
        order_id=ticket.order_id,
        order=order,
        shop_name=shop.name,
        shop_locale=shop.locale,
        agent_name=agent_name,
        today=ctx.now().astimezone(ZoneInfo(shop.timezone)).date(),
    )
    return render(macros.macro_of(row), facts)
