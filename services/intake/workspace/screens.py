"""The queue and the ticket screens: what each reads (through intake's repositories, the same queries
the tickets API answers with) and the page it renders. A form that failed re-renders its ticket screen
with the agent's text kept (actions.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from asyncpg import Record
from fastapi import Request
from fastapi.responses import HTMLResponse

from runtime.db import Connection, Database

from ..context import Context
from ..repository import customer_360, sla_state
from ..repository import tickets as tickets_repo
from . import people
from . import repository as repo
from .access import PageRefusal, clock_rate
from .render import message_page, page
from .session import COOKIE_PATH, Session
from .texts import UNITS, WORDS
from .ticket_view import Customer, ticket_page
from .views import QueueFilters, queue_view

QUEUE_PAGE_SIZE = 500
"""Tickets on one page of the queue (its server time is measured at this size: bench/workspace.py)."""
MAX_BODY_CHARS = 20_000
"""As the tickets API's replies and notes."""
ICONS = {
    "customer": "✉",
    "agent": "↩",
    "automatic": "⚙",
    "note": "✎",
    "system": "\u2139",
}  # information source
"""Each message kind's marker beside its label (decoration: the label says it in words)."""


def zone_of(ctx: Context, shop_id: str) -> ZoneInfo:
    shop = ctx.shops.get(shop_id)
    return ZoneInfo(shop.timezone if shop else "UTC")


def shop_name(ctx: Context, shop_id: str) -> str:
    shop = ctx.shops.get(shop_id)
    return shop.name if shop else shop_id


def clock_of(request: Request, now: datetime, lang: str) -> dict[str, Any]:
    """What the countdowns' script needs: the domain's now, its pace, and the words."""
    words = WORDS[lang]
    return {
        "now": now.isoformat(),
        "rate": clock_rate(request.app.state.workspace_clock()),
        "words": json.dumps({"in": words["in"], "late": words["late"], **UNITS[lang]}, ensure_ascii=False),
    }


def here_of(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _offset(query: Mapping[str, str]) -> int:
    value = query.get("offset", "0")
    return min(int(value), 100_000) if value.isdigit() else 0


async def queue_screen(request: Request, db: Database, ctx: Context, session: Session) -> HTMLResponse:
    lang, shop_id = session.locale, session.shop_id
    query = request.query_params
    offset = _offset(query)
    async with db.pool.acquire() as conn:
        tags = await repo.shop_tags(conn, shop_id)
        crew = await people.crew(conn, shop_id)
        filters = QueueFilters.parse(query, tags, crew.team_options)
        wanted = people.queue_filter(filters, session.agent_id)
        rows = await tickets_repo.list_tickets(conn, shop_id, wanted, QUEUE_PAGE_SIZE + 1, offset, "due")
    now = ctx.now()
    view = queue_view(
        [dict(r) for r in rows],
        now,
        lang,
        filters,
        page_size=QUEUE_PAGE_SIZE,
        offset=offset,
        agent_id=session.agent_id,
        names=crew.names,
        tags=tags,
        teams=crew.team_options,
        assigning=people.ASSIGNMENT,
    )
    return page(
        "queue.html",
        lang,
        session=session,
        shop_name=shop_name(ctx, shop_id),
        here=here_of(request),
        title=WORDS[lang]["queue_title"],
        current="queue",
        view=view,
        clock=clock_of(request, now, lang),
    )


async def customer_facts(conn: Connection, shop_id: str, ticket: Record) -> Customer:
    """The ticket's order, and the customer's orders, tickets and survey answers through the Customer
    360's queries (by the shop's customer id, else the e-mail; by the ticket's customer key else)."""
    order = await repo.order_of(conn, shop_id, ticket["order_id"]) if ticket["order_id"] else None
    if ticket["customer_id"]:
        who = await customer_360.identity_by_id(conn, shop_id, ticket["customer_id"])
    elif ticket["customer_email"]:
        who = await customer_360.identity_by_email(conn, shop_id, ticket["customer_email"])
    else:
        others = await repo.tickets_by_key(conn, shop_id, ticket["customer_key"])
        return Customer(order, (), [dict(t) for t in others])
    orders = await customer_360.orders(conn, who)
    tickets = await customer_360.tickets(conn, who)
    answers = await customer_360.answers(conn, who)
    return Customer(order, [dict(o) for o in orders], [dict(t) for t in tickets], [dict(a) for a in answers])


@dataclass(frozen=True)
class Outcome:
    """How a ticket screen is shown after a form: a notice, or an error with the agent's text kept."""

    status: int = 200
    notice: str | None = None
    error: str | None = None
    failed: str | None = None
    """Which form failed (reply, note, tags, merge): its field is marked invalid."""
    drafts: Mapping[str, str] = field(default_factory=dict)


async def ticket_screen(
    request: Request,
    db: Database,
    ctx: Context,
    session: Session,
    ticket_id: str,
    outcome: Outcome = Outcome(),
) -> HTMLResponse:
    lang, shop_id = session.locale, session.shop_id
    async with db.pool.acquire() as conn:
        ticket = await tickets_repo.ticket_with_order(conn, shop_id, ticket_id)
        if ticket is None:
            raise PageRefusal(message_page(lang, 404, "not_found_title", "not_found_body", session=session))
        messages = await tickets_repo.messages_of(conn, shop_id, ticket_id)
        clocks = await sla_state.clocks_of(conn, shop_id, [ticket_id])
        customer = await customer_facts(conn, shop_id, ticket)
        crew = await people.crew(conn, shop_id)
        row = dict(ticket)
        macro = await people.macro_draft(conn, ctx, session, ticket_id, request.query_params.get("macro"))
    now, zone = ctx.now(), zone_of(ctx, shop_id)
    view = ticket_page(
        row,
        [dict(m) for m in messages],
        clocks.get(ticket_id, []),
        customer,
        now,
        lang,
        zone,
        session.agent_id,
        crew.names,
    )
    drafts = outcome.drafts
    return page(
        "ticket.html",
        lang,
        status=outcome.status,
        session=session,
        shop_name=shop_name(ctx, shop_id),
        here=f"{COOKIE_PATH}/tickets/{ticket_id}",
        title=view.subject,
        current="ticket",
        notice=outcome.notice,
        error=outcome.error,
        failed=outcome.failed,
        t=view,
        icons=ICONS,
        max_body=MAX_BODY_CHARS,
        reply_text=drafts.get("reply", macro.text if macro else ""),
        note_text=drafts.get("note", ""),
        merge_into=drafts.get("merge", ""),
        macros=crew.macros,
        macro_id=macro.id if macro else drafts.get("macro_id"),
        assignment=people.assignment_view(row, session, crew),
        tags_enabled=people.TAGS,
        clock=clock_of(request, now, lang),
    )
