"""Automatic answers to "where is my order?": which new tickets get one, about which order, whether
the shop had already told the customer of a delay, and what the answer does to the ticket.

A new ticket from a customer's contact, categorised as order status or delivery delay, about a known
order of theirs, gets an answer written from the order's state (domain/answers.py) if the shop turned
them on. The order is the one the contact names, else the customer's only order still on its way; it
must carry the contact's e-mail, so an order id alone never shows anyone else's parcel. Urgent and
repeated contacts, and phone calls, go to an agent as before. The answered ticket waits pending for
the customer until the shop's time has passed (`deflect_at`): then it is solved as deflected
(domain/housekeeping.py); if they write back first it goes to an agent one priority step up
(Ticket.customer_wrote).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category, Priority, TicketSource, TicketStatus

from .orders import OPEN_STATUSES, OrderContext, OrderStatus
from .settings import AutomaticAnswers
from .ticket import Change, Ticket

WISMO_CATEGORIES = frozenset({Category.ORDER_STATUS, Category.DELIVERY_DELAY})
ANSWERABLE = frozenset({*OPEN_STATUSES, OrderStatus.DELIVERED})
"""Order states an answer can speak for; returns, refunds, repairs and cancellations need a person."""


def asks_where(ticket: Ticket) -> bool:
    """Whether a new ticket is a "where is my order?" an answer could settle (before any lookup)."""
    return (
        ticket.source is TicketSource.CONTACT
        and ticket.category in WISMO_CATEGORIES
        and ticket.channel is not Channel.PHONE
        and ticket.priority is not Priority.URGENT
        and not ticket.is_repeat
        and ticket.customer.email is not None
    )


@dataclass(frozen=True)
class OrderInQuestion:
    order_id: str
    order: OrderContext


def order_in_question(
    ticket: Ticket, named: OrderContext | None, open_orders: Sequence[tuple[str, OrderContext]]
) -> OrderInQuestion | None:
    """The order the ticket asks about: the one it names, else the customer's only open order; None
    if there is none, it is not the customer's (by e-mail) or it is past what an answer covers."""
    if ticket.order_id is not None:
        found = OrderInQuestion(ticket.order_id, named) if named is not None else None
    else:
        found = OrderInQuestion(*open_orders[0]) if len(open_orders) == 1 else None
    if found is None or found.order.status not in ANSWERABLE:
        return None
    email = ticket.customer.email
    held = found.order.customer_email
    if email is None or held is None or email.casefold() != held.casefold():
        return None
    return found


def notice_at(settings: AutomaticAnswers, order: OrderContext, now: datetime) -> datetime | None:
    """When the shop told the customer of the order's last delay, if it had before they wrote."""
    delayed = order.delayed_at
    if settings.delay_notices and delayed is not None and delayed <= now:
        return delayed
    return None


def await_customer(ticket: Ticket, settings: AutomaticAnswers, at: datetime) -> Change:
    """The answered ticket waits pending on the customer until the shop's deflection time."""
    pending = ticket.set_status(TicketStatus.PENDING, at)
    deflect_at = at + settings.deflect_after
    waiting = replace(pending.ticket, deflect_at=deflect_at)
    return pending.then(Change(waiting, {"deflect_at": deflect_at}))
