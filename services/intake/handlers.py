"""Intake's use cases: apply the ticket rules and write state + outbox events in the caller's transaction.

Each function takes the open connection of a transaction it does not own: the HTTP route or the
consumer commits (or rolls back) the state and the events together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.outbox import enqueue
from runtime.shops import ShopRegistry
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel, ContactReceived
from schemas.v1.orders import OrderDelayed, OrderEventData, OrderShipped
from schemas.v1.sla import OrderPromiseBreached, PromiseKind, SlaBreached
from schemas.v1.surveys import SurveyDetractor
from schemas.v1.tickets import (
    Author,
    Category,
    TicketClosed,
    TicketCreated,
    TicketFirstResponse,
    TicketMerged,
    TicketMessageAdded,
    TicketReopened,
    TicketSolved,
    TicketSource,
    TicketStatus,
    TicketStatusChanged,
)

from . import metrics
from . import repository as repo
from .domain.customers import NoCustomerIdentity, customer_key, thread_key
from .domain.lifecycle import (
    check_transition,
    is_first_contact_resolution,
    status_after_customer_message,
)
from .domain.orders import STATUS_OF_EVENT, OrderContext, apply_order_step
from .domain.rules import DEFAULT_RULES, RuleTable, categorise, normalise_text, prioritise
from .domain.threading import REPEAT_WINDOW, IncomingMessage, RouteKind, repeat_of, route_message

SOURCE = "careloop/intake"


@dataclass(frozen=True)
class Intake:
    """What the handlers need from the runtime: time, the tickets topic, the shop registry."""

    now: Callable[[], datetime]
    tickets_topic: str
    shops: ShopRegistry


class TicketNotFound(Exception):
    pass


class ConflictingChange(Exception):
    """The ticket's state does not allow this change (closed, merged, same ticket)."""


@dataclass(frozen=True)
class ContactOutcome:
    outcome: RouteKind | None
    """None when the message was a duplicate delivery."""
    ticket_id: str
    message_id: str

    @property
    def duplicate(self) -> bool:
        return self.outcome is None


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def rules_for(conn: Connection, shop_id: str) -> RuleTable:
    return await repo.shop_rules(conn, shop_id) or DEFAULT_RULES


# -- events ----------------------------------------------------------------------------------------


def _common(ticket: asyncpg.Record) -> dict[str, Any]:
    return {
        "shop_id": ticket["shop_id"],
        "ticket_id": ticket["id"],
        "order_id": ticket["order_id"],
        "customer_id": ticket["customer_id"],
        "customer_email": ticket["customer_email"],
        "customer_locale": ticket["customer_locale"],
        "channel": ticket["channel"],
        "category": ticket["category"],
        "priority": ticket["priority"],
    }


async def _emit(conn: Connection, intake: Intake, event_type: str, data: Any) -> None:
    await enqueue(conn, intake.tickets_topic, make_event(event_type, SOURCE, data, subject=data.ticket_id))


async def _emit_status_change(
    conn: Connection, intake: Intake, ticket: asyncpg.Record, previous: TicketStatus, at: datetime
) -> None:
    status = TicketStatus(ticket["status"])
    await _emit(
        conn,
        intake,
        "ticket.status_changed",
        TicketStatusChanged(**_common(ticket), previous_status=previous, status=status, at=at),
    )
    if status is TicketStatus.SOLVED:
        resolution = (at - ticket["created_at"]).total_seconds()
        await _emit(
            conn,
            intake,
            "ticket.solved",
            TicketSolved(
                **_common(ticket),
                at=at,
                resolution_seconds=resolution,
                first_contact_resolution=bool(ticket["fcr"]),
            ),
        )
        metrics.record(
            partial(
                metrics.RESOLUTION_SECONDS.labels(ticket["channel"], ticket["category"]).observe, resolution
            )
        )
        metrics.record(metrics.SOLVED.labels(str(bool(ticket["fcr"])).lower()).inc)
    elif status is TicketStatus.CLOSED:
        await _emit(
            conn,
            intake,
            "ticket.closed",
            TicketClosed(**_common(ticket), at=at, merged_into_ticket_id=ticket["merged_into"]),
        )
    elif previous is TicketStatus.SOLVED:
        await _emit(conn, intake, "ticket.reopened", TicketReopened(**_common(ticket), at=at))


async def _add_message(
    conn: Connection, intake: Intake, ticket: asyncpg.Record, message: repo.NewMessage
) -> None:
    await repo.insert_message(conn, message)
    await _emit(
        conn,
        intake,
        "ticket.message_added",
        TicketMessageAdded(
            **_common(ticket),
            message_id=message.id,
            author=Author(message.author),
            internal=message.internal,
            at=message.at,
        ),
    )


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
            metrics.record(metrics.CONTACTS.labels(channel, "duplicate").inc)
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
        ticket = await _open_ticket(
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
    await _add_message(conn, intake, ticket, message)
    metrics.record(metrics.CONTACTS.labels(channel, route.kind.value).inc)
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


async def _open_ticket(conn: Connection, intake: Intake, new: repo.NewTicket) -> asyncpg.Record | None:
    """Insert and announce a ticket; None if its source (survey, promise) already opened one."""
    if not await repo.insert_ticket(conn, new):
        return None
    ticket = await repo.ticket_for_update(conn, new.shop_id, new.id)
    assert ticket is not None
    await _emit(
        conn,
        intake,
        "ticket.created",
        TicketCreated(
            **_common(ticket),
            subject=new.subject,
            is_repeat=new.is_repeat,
            source=new.source,
            source_ref=new.source_ref,
            at=new.at,
        ),
    )
    metrics.record(metrics.TICKETS_CREATED.labels(new.channel, new.category, new.priority, new.source).inc)
    if new.is_repeat:
        metrics.record(metrics.REPEAT_CONTACTS.labels(new.channel).inc)
    return ticket


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
        metrics.record(metrics.REOPENED.labels("customer").inc)
    ticket = await repo.update_ticket(conn, ticket_id, changes)
    if status is not previous:
        await _emit_status_change(conn, intake, ticket, previous, now)
    return ticket


async def on_contact_event(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    contact: ContactReceived = event.data
    if contact.shop_id not in intake.shops:
        metrics.REJECTED.labels("kafka", "unknown_shop").inc()
        raise Unprocessable(f"unknown shop {contact.shop_id!r}")
    try:
        await receive_contact(contact, conn, intake)
    except NoCustomerIdentity as exc:
        metrics.REJECTED.labels("kafka", "no_customer_identity").inc()
        raise Unprocessable(str(exc)) from None


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
    await _add_message(conn, intake, ticket, message)
    if first_response:
        seconds = (now - ticket["created_at"]).total_seconds()
        await _emit(
            conn,
            intake,
            "ticket.first_response",
            TicketFirstResponse(**_common(ticket), at=now, first_response_seconds=seconds),
        )
        metrics.record(partial(metrics.FIRST_RESPONSE_SECONDS.labels(ticket["channel"]).observe, seconds))
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
        metrics.record(metrics.REOPENED.labels("agent").inc)
    ticket = await repo.update_ticket(conn, ticket_id, changes)
    await _emit_status_change(conn, intake, ticket, previous, now)
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
    await _emit(
        conn,
        intake,
        "ticket.merged",
        TicketMerged(**_common(source), merged_into_ticket_id=target_id, at=now),
    )
    await _emit_status_change(conn, intake, source, previous, now)
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
    await _add_message(conn, intake, target, note)
    metrics.record(metrics.MERGED.inc)
    return target


# -- other services' events ------------------------------------------------------------------------


def _known_shop(shop_id: str, intake: Intake) -> None:
    if shop_id not in intake.shops:
        metrics.REJECTED.labels("kafka", "unknown_shop").inc()
        raise Unprocessable(f"unknown shop {shop_id!r}")


async def on_order_event(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    data: OrderEventData = event.data
    _known_shop(data.shop_id, intake)
    promised = None
    if isinstance(data, OrderShipped):
        promised = data.promised_delivery_date
    elif isinstance(data, OrderDelayed):
        promised = data.new_promised_delivery_date
    current = await repo.order_context(conn, data.shop_id, data.order_id)
    updated = apply_order_step(
        current,
        STATUS_OF_EVENT[event.type],
        event.time,
        data.customer.id,
        data.customer.email,
        data.customer.locale,
        promised,
    )
    if updated != current:
        await repo.save_order_context(conn, data.shop_id, data.order_id, updated)
    await repo.fill_in_customer_id(conn, data.shop_id, data.order_id, data.customer.id)


async def _open_follow_up(
    conn: Connection,
    intake: Intake,
    *,
    shop_id: str,
    customer: Customer,
    order_id: str | None,
    source: TicketSource,
    source_ref: str,
    subject: str,
    body: str,
    category: Category | None,
) -> None:
    """A ticket intake opens on the customer's behalf; once per source_ref however often it is told."""
    now = intake.now()
    rules = await rules_for(conn, shop_id)
    order = await repo.order_context(conn, shop_id, order_id) if order_id else None
    if category is None:
        category = categorise(rules, subject, body, order.effective_status(now.date()) if order else None)
    try:
        who = customer_key(customer.email, customer.phone, None)
    except NoCustomerIdentity:
        who = f"customer:{customer.id}"
    ticket = await _open_ticket(
        conn,
        intake,
        repo.NewTicket(
            id=new_id("tkt"),
            shop_id=shop_id,
            channel=Channel.EMAIL.value,  # the shop answers these by e-mail
            category=category.value,
            priority=prioritise(rules, category, Channel.EMAIL, text=body, source=source).value,
            subject=subject,
            source=source.value,
            source_ref=source_ref,
            customer_key=who,
            customer_id=customer.id,
            customer_email=customer.email,
            customer_phone=customer.phone,
            customer_handle=None,
            customer_name=customer.name,
            customer_locale=customer.locale,
            order_id=order_id,
            is_repeat=False,
            repeat_of=None,
            at=now,
        ),
    )
    if ticket is None:
        return
    message = repo.NewMessage(
        id=new_id("msg"),
        ticket_id=ticket["id"],
        shop_id=shop_id,
        author=Author.SYSTEM.value,
        body=body,
        at=now,
    )
    await _add_message(conn, intake, ticket, message)


async def on_survey_detractor(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    data: SurveyDetractor = event.data
    _known_shop(data.shop_id, intake)
    comment = data.comment or "(no comment)"
    await _open_follow_up(
        conn,
        intake,
        shop_id=data.shop_id,
        customer=data.customer,
        order_id=data.order_id,
        source=TicketSource.SURVEY_DETRACTOR,
        source_ref=data.survey_id,
        subject=f"Unhappy {data.kind.value.upper()} answer: score {data.score}",
        body=(
            f"Survey {data.survey_id} ({data.kind.value}) answered with score {data.score}. "
            f"Comment: {comment}"
        ),
        category=None,
    )


async def on_promise_breached(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    data: OrderPromiseBreached = event.data
    _known_shop(data.shop_id, intake)
    repair = data.promise is PromiseKind.REPAIR_TURNAROUND
    what = {
        PromiseKind.SHIP_BY: "ship the order by",
        PromiseKind.DELIVERY_DATE: "deliver the order by",
        PromiseKind.REPAIR_TURNAROUND: f"finish repair {data.repair_id or ''} by",
    }[data.promise]
    await _open_follow_up(
        conn,
        intake,
        shop_id=data.shop_id,
        customer=data.customer,
        order_id=data.order_id,
        source=TicketSource.SLA_PROMISE,
        source_ref=f"{data.order_id}:{data.promise.value}:{data.repair_id or ''}",
        subject=f"Order {data.order_id}: promise broken ({data.promise.value})",
        body=(
            f"The shop promised to {what} {data.promised_at.isoformat()}; "
            f"still not done at {data.at.isoformat()}."
        ),
        category=Category.COMPLAINT_REPAIR if repair else Category.DELIVERY_DELAY,
    )


async def on_sla_breached(event: CloudEvent[Any], conn: Connection, intake: Intake) -> None:
    data: SlaBreached = event.data
    _known_shop(data.shop_id, intake)
    updated = await conn.fetchval(
        """UPDATE tickets SET breached = true,
               breached_metrics = (SELECT array_agg(DISTINCT m ORDER BY m)
                                   FROM unnest(breached_metrics || $3::text) AS m)
           WHERE shop_id = $1 AND id = $2 RETURNING true""",
        data.shop_id,
        data.ticket_id,
        data.metric.value,
    )
    if not updated:
        metrics.REJECTED.labels("kafka", "unknown_ticket").inc()
        raise Unprocessable(f"unknown ticket {data.ticket_id!r} of shop {data.shop_id!r}")
