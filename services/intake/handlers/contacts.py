"""A customer's message from any channel (`POST /v1/contacts` and `contact.received`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.erasure import scrubbed_if_erased
from runtime.metrics import on_commit
from schemas.envelope import CloudEvent
from schemas.v1.contacts import ContactReceived
from schemas.v1.tickets import Author, TicketSource, TicketStatus

from .. import metrics
from ..context import Context
from ..domain.customers import NoCustomerIdentity, contact_locale, customer_key, thread_key
from ..domain.threading import (
    REPEAT_WINDOW,
    IncomingMessage,
    RouteKind,
    TicketSummary,
    continued_ticket,
    repeat_of,
    route_message,
)
from ..domain.ticket import Message, Opening, Ticket, TicketCustomer
from ..repository import conversations, replies, tickets
from .automatic import answer_where_is_my_order, joined
from .routing import route_new
from .writes import apply, known_shop, new_id, order_status


@dataclass(frozen=True)
class ContactOutcome:
    outcome: RouteKind | None
    """None when the message was a duplicate delivery."""
    ticket_id: str
    message_id: str

    @property
    def duplicate(self) -> bool:
        return self.outcome is None


async def receive_contact(contact: ContactReceived, conn: Connection, ctx: Context) -> ContactOutcome:
    """A customer's message from any channel: a duplicate, a new ticket, or the next message of one."""
    contact = await scrubbed_if_erased(conn, contact, contact.shop_id, "intake", "contacts")
    now = ctx.now()
    shop_id, channel = contact.shop_id, contact.channel.value
    who = customer_key(contact.customer_email, contact.customer_phone, contact.customer_handle)
    thread = thread_key(channel, contact.thread_id)
    await conversations.lock_conversation(conn, shop_id, [who] + ([thread] if thread else []))
    known = await conversations.facts(
        conn,
        shop_id,
        order_id=contact.order_id,
        email=contact.customer_email,
        channel=channel,
        channel_message_id=contact.channel_message_id,
        customer_key=who,
    )
    if known.seen is not None:
        on_commit(metrics.CONTACTS.labels(channel, "duplicate").inc)
        return ContactOutcome(None, known.seen.ticket_id, known.seen.message_id)

    window = timedelta(hours=known.rules.threading_window_hours)
    incoming = IncomingMessage(who, contact.order_id, thread)
    candidates = await conversations.routing_candidates(
        conn, shop_id, who, thread, now - max(window, REPEAT_WINDOW)
    )
    route = route_message(incoming, candidates, now, window)
    # A message naming one of a ticket's messages (In-Reply-To, References) joins that ticket whatever
    # the window and the sender say: it answers it. A closed one's answer still opens a new ticket.
    answered = await replies.answered_ticket(conn, shop_id, channel, contact.references)
    target = answered or route.ticket_id
    message = Message(
        id=new_id("msg"),
        author=Author.CUSTOMER,
        body=contact.body,
        at=now,
        channel=channel,
        channel_message_id=contact.channel_message_id,
        author_name=contact.customer_name,
        subject=contact.subject,
        attachments=tuple(a.model_dump(mode="json") for a in contact.attachments),
    )
    ticket = await tickets.ticket_for_update(conn, shop_id, target) if target else None
    if ticket is not None and not ticket.closed:
        kind = RouteKind.REOPEN if ticket.status is TicketStatus.SOLVED else RouteKind.JOIN
        change = ticket.customer_wrote(message)
    else:  # a new conversation (or the one routed to was closed or merged away meanwhile)
        kind = RouteKind.NEW
        earlier = repeat_of(incoming, candidates, now)
        opening = _opening(contact, who, known, earlier.ticket_id if earlier else None, ctx)
        opening = replace(opening, continues_ticket_id=_continued(ticket, incoming, candidates))
        change = Ticket.open(opening, message, known.rules, order_status(known.order, now))
        change = await route_new(conn, ctx, change, known.teams)
    await apply(conn, ctx, change, thread=thread, reopened_by="customer")
    on_commit(metrics.CONTACTS.labels(channel, kind.value).inc)
    if change.created:
        if change.ticket.continues_ticket_id is not None:
            on_commit(metrics.CONTINUED_CLOSED.labels(channel).inc)
        await answer_where_is_my_order(conn, ctx, change.ticket, known.order, known.automatic_answers)
    elif ticket is not None:
        named = known.order if contact.order_id == ticket.order_id else None
        await joined(conn, ticket, named, known.automatic_answers, now)
    return ContactOutcome(kind, change.ticket.id, message.id)


def _continued(
    routed: Ticket | None, incoming: IncomingMessage, candidates: list[TicketSummary]
) -> str | None:
    """The closed ticket the message was on (it answers one of its messages, or is on its thread)."""
    if routed is not None and routed.closed:
        return routed.merged_into or routed.id
    closed = continued_ticket(incoming, candidates)
    return closed.ticket_id if closed is not None else None


def _opening(
    contact: ContactReceived, who: str, known: conversations.Facts, repeats: str | None, ctx: Context
) -> Opening:
    order = known.order
    shop = ctx.shops.get(contact.shop_id)
    said = contact.customer_locale if "customer_locale" in contact.model_fields_set else None
    return Opening(
        ticket_id=new_id("tkt"),
        shop_id=contact.shop_id,
        channel=contact.channel,
        source=TicketSource.CONTACT,
        source_ref=None,
        subject=contact.subject,
        customer=TicketCustomer(
            key=who,
            id=order.customer_id if order is not None else known.customer_id_by_email,
            email=contact.customer_email,
            phone=contact.customer_phone,
            handle=contact.customer_handle,
            name=contact.customer_name,
            locale=contact_locale(
                said,
                order.customer_locale if order is not None else None,
                shop.locale if shop is not None else None,
                contact.customer_locale,
            ),
            standing=known.standing,
        ),
        order_id=contact.order_id,
        repeat_of=repeats,
    )


async def on_contact_event(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    contact: ContactReceived = event.data
    known_shop(contact.shop_id, ctx)
    try:
        await receive_contact(contact, conn, ctx)
    except NoCustomerIdentity as exc:
        counted = metrics.REJECTED.labels("kafka", "no_customer_identity").inc
        raise Unprocessable(str(exc), counted=counted) from None
