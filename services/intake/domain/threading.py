"""Which ticket a customer's message belongs to.

A message joins a ticket of the same shop that is not closed and was active within the window when
it continues the same gateway thread (e-mail thread, chat session), or else comes from the same
customer about the same order (or about no order). A solved ticket it joins is reopened. Anything
else opens a new ticket. Duplicate deliveries are caught before routing, by the channel message id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.v1.tickets import TicketStatus

REPEAT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class IncomingMessage:
    customer_key: str
    order_id: str | None
    thread_key: str | None


@dataclass(frozen=True)
class TicketSummary:
    """What routing needs to know about an existing ticket."""

    ticket_id: str
    status: TicketStatus
    customer_key: str
    order_id: str | None
    thread_keys: frozenset[str]
    created_at: datetime
    last_activity_at: datetime
    merged: bool = False


class RouteKind(StrEnum):
    NEW = "created"
    JOIN = "joined"
    REOPEN = "reopened"


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    ticket_id: str | None = None


def _joinable(ticket: TicketSummary, now: datetime, window: timedelta) -> bool:
    return (
        not ticket.merged
        and ticket.status is not TicketStatus.CLOSED
        and now - ticket.last_activity_at <= window
    )


def _best(tickets: Sequence[TicketSummary]) -> TicketSummary:
    # An active conversation beats a solved one; then the most recently active; the id breaks ties
    # so the choice never depends on the order the candidates were loaded in.
    return max(
        tickets,
        key=lambda t: (t.status is not TicketStatus.SOLVED, t.last_activity_at, t.ticket_id),
    )


def route_message(
    message: IncomingMessage, tickets: Sequence[TicketSummary], now: datetime, window: timedelta
) -> Route:
    joinable = [t for t in tickets if _joinable(t, now, window)]
    same_thread = [t for t in joinable if message.thread_key and message.thread_key in t.thread_keys]
    same_topic = [
        t for t in joinable if t.customer_key == message.customer_key and t.order_id == message.order_id
    ]
    candidates = same_thread or same_topic
    if not candidates:
        return Route(RouteKind.NEW)
    chosen = _best(candidates)
    kind = RouteKind.REOPEN if chosen.status is TicketStatus.SOLVED else RouteKind.JOIN
    return Route(kind, chosen.ticket_id)


def repeat_of(
    message: IncomingMessage, tickets: Sequence[TicketSummary], now: datetime
) -> TicketSummary | None:
    """The earlier ticket this new one repeats: same customer, same order, opened within 7 days."""
    if message.order_id is None:
        return None
    earlier = [
        t
        for t in tickets
        if not t.merged
        and t.customer_key == message.customer_key
        and t.order_id == message.order_id
        and timedelta(0) <= now - t.created_at <= REPEAT_WINDOW
    ]
    return max(earlier, key=lambda t: (t.created_at, t.ticket_id)) if earlier else None


def continued_ticket(message: IncomingMessage, tickets: Sequence[TicketSummary]) -> TicketSummary | None:
    """The closed ticket a new conversation continues: the message is on that ticket's thread. A closed
    ticket takes no more messages, so the customer's next one opens a new ticket linked to it."""
    thread = message.thread_key
    closed = [
        t
        for t in tickets
        if t.status is TicketStatus.CLOSED and not t.merged and thread is not None and thread in t.thread_keys
    ]
    return max(closed, key=lambda t: (t.last_activity_at, t.ticket_id)) if closed else None
