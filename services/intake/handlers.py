"""Intake's use cases: apply the ticket rules and write state + outbox events in the caller's transaction.

Each function takes the open connection of a transaction it does not own: the HTTP route or the
consumer commits (or rolls back) the state and the events together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.metrics import on_commit
from schemas.envelope import CloudEvent
from schemas.v1.contacts import ContactReceived
from schemas.v1.tickets import (
    Author,
    TicketFirstResponse,
    TicketMerged,
    TicketSource,
    TicketStatus,
)

from . import metrics
from . import repository as repo
from .domain.customers import NoCustomerIdentity, customer_key, thread_key
from .domain.lifecycle import (
    check_transition,
    is_first_contact_resolution,
    status_after_customer_message,
)
from .domain.orders import OrderContext
from .domain.rules import categorise, normalise_text, prioritise
from .domain.threading import REPEAT_WINDOW, IncomingMessage, RouteKind, repeat_of, route_message
from .tickets import (
    ConflictingChange,
    Intake,
    TicketNotFound,
    add_message,
    common_fields,
    emit,
    emit_status_change,
    new_id,
    open_ticket,
    rules_for,
)


@dataclass(frozen=True)
class ContactOutcome:
    outcome: RouteKind | None
    """None when the message was a duplicate delivery."""
    ticket_id: str
    message_id: str

    @property
    def duplicate(self) -> bool:
        return self.outcome is None


# -- contacts --------------------------------------------------------------------------------------


async def receive_contact(contact: ContactReceived, conn: Connection, intake: Intake) -> ContactOutcome:
    """A customer's message from any channel: a duplicate, a new ticket, or the next message of one."""
    now = intake.now()
    channel = contact.channel.value
    who = customer_key(contact.customer_email, contact.customer_phone, contact.customer_handle)
    thread = thread_key(channel, contact.thread_id)
    await repo.lock_conversation(conn, contact.shop_id, [who] + ([thread] if thread else []))
    if contact.channel_message_id:
        seen = await repo.message_by_channel_id(conn, contact.shop_id, channel, contact.channel_message_id)
        if seen is not None:
            on_commit(metrics.CONTACTS.labels(channel, "duplicate").inc)
            return ContactOutcome(None, seen["ticket_id"], seen["id"])

    rules = await rules_for(conn, contact.shop_id)
    window = timedelta(hours=rules.threading_window_hours)
    incoming = IncomingMessage(who, contact.order_id, thread)
    known = await repo.routing_candidates(
        conn, contact.shop_id, who, thread, now - max(window, REPEAT_WINDOW)
    )
    route = route_message(incoming, known, now, window)
    message = repo.NewMessage(
        id=new_id("msg"),
        ticket_id=route.ticket_id or new_id("tkt"),
        shop_id=contact.shop_id,
        author=Author.CUSTOMER.value,
        body=contact.body,
        at=now,
        channel=channel,
        channel_message_id=contact.channel_message_id,
        author_name=contact.customer_name,
        subject=contact.subject,
        attachments=tuple(a.model_dump(mode="json") for a in contact.attachments),
    )
    if route.kind is RouteKind.NEW:
        earlier = repeat_of(incoming, known, now)
        order = (
            await repo.order_context(conn, contact.shop_id, contact.order_id) if contact.order_id else None
        )
        category = categorise(
            rules, contact.subject, contact.body, order.effective_status(now.date()) if order else None
        )
        ticket = await open_ticket(
            conn,
            intake,
            repo.NewTicket(
                id=message.ticket_id,
                shop_id=contact.shop_id,
                channel=channel,
                category=category.value,
                priority=prioritise(
                    rules,
                    category,
                    contact.channel,
                    text=normalise_text(contact.subject, contact.body),
                    is_repeat=earlier is not None,
                ).value,
                subject=contact.subject,
                source=TicketSource.CONTACT.value,
                source_ref=None,
                customer_key=who,
                customer_id=await _known_customer_id(conn, contact.shop_id, order, contact.customer_email),
                customer_email=contact.customer_email,
                customer_phone=contact.customer_phone,
                customer_handle=contact.customer_handle,
                customer_name=contact.customer_name,
                customer_locale=_locale(contact, order, intake),
                order_id=contact.order_id,
                is_repeat=earlier is not None,
                repeat_of=earlier.ticket_id if earlier else None,
                at=now,
            ),
        )
        assert ticket is not None  # contacts have no source_ref, so nothing can conflict
    else:
        ticket = await _customer_wrote_again(
            conn, intake, message.ticket_id, contact.shop_id, now, route.kind
        )
    if thread:
        await repo.add_thread(conn, contact.shop_id, thread, ticket["id"])
    await add_message(conn, intake, ticket, message)
    on_commit(metrics.CONTACTS.labels(channel, route.kind.value).inc)
    return ContactOutcome(route.kind, ticket["id"], message.id)


def _locale(contact: ContactReceived, order: OrderContext | None, intake: Intake) -> str:
    """The contact's own locale if it said; else the one the shop knows from the order; else the shop's.
    Notify and survey write to the customer in this language."""
    if "customer_locale" in contact.model_fields_set:
        return contact.customer_locale
    if order is not None:
        return order.customer_locale
    shop = intake.shops.get(contact.shop_id)
    return shop.locale if shop is not None else contact.customer_locale


async def _known_customer_id(
    conn: Connection, shop_id: str, order: OrderContext | None, email: str | None
) -> str | None:
    if order is not None:
        return order.customer_id
    if email:
        return await repo.customer_id_by_email(conn, shop_id, email)
    return None


async def _customer_wrote_again(
    conn: Connection, intake: Intake, ticket_id: str, shop_id: str, now: datetime, kind: RouteKind
) -> asyncpg.Record:
    ticket = await repo.ticket_for_update(conn, shop_id, ticket_id)
    assert ticket is not None  # routed to it under the conversation lock
    previous = TicketStatus(ticket["status"])
    status = status_after_customer_message(previous)
    changes: dict[str, Any] = {"last_activity_at": now, "updated_at": now}
    if status is not previous:
        changes["status"] = status.value
    if kind is RouteKind.REOPEN:
        changes |= {"reopen_count": ticket["reopen_count"] + 1, "solved_at": None, "fcr": None}
        on_commit(metrics.REOPENED.labels("customer").inc)
    ticket = await repo.update_ticket(conn, ticket_id, changes)
    if status is not previous:
        await emit_status_change(conn, intake, ticket, previous, now)
    return ticket


async def on_contact_event(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    contact: ContactReceived = event.data
    if contact.shop_id not in intake.shops:
        raise Unprocessable(
            f"unknown shop {contact.shop_id!r}", counted=metrics.REJECTED.labels("kafka", "unknown_shop").inc
        )
    try:
        await receive_contact(contact, conn, intake)
    except NoCustomerIdentity as exc:
        counted = metrics.REJECTED.labels("kafka", "no_customer_identity").inc
        raise Unprocessable(str(exc), counted=counted) from None


# -- agents ----------------------------------------------------------------------------------------


async def _ticket_to_change(conn: Connection, shop_id: str, ticket_id: str) -> asyncpg.Record:
    ticket = await repo.ticket_for_update(conn, shop_id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def add_agent_message(
    conn: Connection,
    intake: Intake,
    shop_id: str,
    ticket_id: str,
    body: str,
    *,
    internal: bool,
    author_name: str | None = None,
    attachments: tuple[dict[str, Any], ...] = (),
) -> str:
    """A public reply or an internal note. Only a public reply is a response to the customer."""
    now = intake.now()
    ticket = await _ticket_to_change(conn, shop_id, ticket_id)
    if ticket["status"] == TicketStatus.CLOSED:
        raise ConflictingChange("the ticket is closed; a closed ticket takes no more messages")
    changes: dict[str, Any] = {"updated_at": now, "last_activity_at": now}
    first_response = not internal and ticket["first_response_at"] is None
    if not internal:
        changes["agent_replies"] = ticket["agent_replies"] + 1
    if first_response:
        changes["first_response_at"] = now
    ticket = await repo.update_ticket(conn, ticket_id, changes)
    message = repo.NewMessage(
        id=new_id("msg"),
        ticket_id=ticket_id,
        shop_id=shop_id,
        author=Author.AGENT.value,
        body=body,
        at=now,
        internal=internal,
        author_name=author_name,
        attachments=attachments,
    )
    await add_message(conn, intake, ticket, message)
    if first_response:
        seconds = (now - ticket["created_at"]).total_seconds()
        await emit(
            conn,
            intake,
            "ticket.first_response",
            TicketFirstResponse(**common_fields(ticket), at=now, first_response_seconds=seconds),
        )
        on_commit(partial(metrics.FIRST_RESPONSE_SECONDS.labels(ticket["channel"]).observe, seconds))
    return message.id


async def change_status(
    conn: Connection, intake: Intake, shop_id: str, ticket_id: str, target: TicketStatus
) -> asyncpg.Record:
    now = intake.now()
    ticket = await _ticket_to_change(conn, shop_id, ticket_id)
    previous = TicketStatus(ticket["status"])
    if not check_transition(previous, target):
        return ticket
    changes: dict[str, Any] = {"status": target.value, "updated_at": now}
    if target is TicketStatus.SOLVED:
        changes |= {
            "solved_at": now,
            "fcr": is_first_contact_resolution(ticket["agent_replies"], ticket["reopen_count"]),
        }
    elif target is TicketStatus.CLOSED:
        changes["closed_at"] = now
    elif previous is TicketStatus.SOLVED:
        changes |= {"reopen_count": ticket["reopen_count"] + 1, "solved_at": None, "fcr": None}
        on_commit(metrics.REOPENED.labels("agent").inc)
    ticket = await repo.update_ticket(conn, ticket_id, changes)
    await emit_status_change(conn, intake, ticket, previous, now)
    return ticket


async def merge_tickets(
    conn: Connection, intake: Intake, shop_id: str, source_id: str, target_id: str
) -> asyncpg.Record:
    """Fold `source` into `target`: its messages and threads move, and it is closed for good."""
    if source_id == target_id:
        raise ConflictingChange("a ticket cannot be merged into itself")
    now = intake.now()
    locked = {tid: await _ticket_to_change(conn, shop_id, tid) for tid in sorted((source_id, target_id))}
    source, target = locked[source_id], locked[target_id]
    for ticket in (source, target):
        if ticket["status"] == TicketStatus.CLOSED:
            raise ConflictingChange(f"ticket {ticket['id']} is closed and cannot take part in a merge")
    await repo.move_conversation(conn, source_id, target_id)
    previous = TicketStatus(source["status"])
    source = await repo.update_ticket(
        conn,
        source_id,
        {"status": TicketStatus.CLOSED.value, "closed_at": now, "updated_at": now, "merged_into": target_id},
    )
    await emit(
        conn,
        intake,
        "ticket.merged",
        TicketMerged(**common_fields(source), merged_into_ticket_id=target_id, at=now),
    )
    await emit_status_change(conn, intake, source, previous, now)
    target = await repo.update_ticket(conn, target_id, {"updated_at": now, "last_activity_at": now})
    note = repo.NewMessage(
        id=new_id("msg"),
        ticket_id=target_id,
        shop_id=shop_id,
        author=Author.SYSTEM.value,
        body=f"Ticket {source_id} was merged into this ticket.",
        at=now,
        internal=True,
    )
    await add_message(conn, intake, target, note)
    on_commit(metrics.MERGED.inc)
    return target
