"""The survey consumers' handlers, in the consumer's transaction: runs of order events schedule surveys
(`on_order_events` over `ORDER_RULES`), ticket events keep the ticket state the throttling reads and
a solved ticket schedules its CSAT survey (`TICKET_HANDLERS`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from runtime.binding import EventHandler
from runtime.db import Connection
from runtime.metrics import on_commit
from schemas.envelope import CloudEvent
from schemas.v1.common import Customer
from schemas.v1.orders import (
    OrderCancelled,
    OrderDelivered,
    OrderEventData,
    RefundIssued,
    RepairCompleted,
    ReturnReceived,
)
from schemas.v1.tickets import (
    TicketCreated,
    TicketEventData,
    TicketMerged,
    TicketReopened,
    TicketSolved,
    TicketStatus,
    TicketStatusChanged,
)
from services.survey import repository
from services.survey.context import Context
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.locale import page_language
from services.survey.domain.tickets import is_open
from services.survey.metrics import SCHEDULED


def _email(value: str | None) -> str | None:
    return value.strip().lower() if value else None


# -- orders ----------------------------------------------------------------------------------------
# Each rule turns one order event into its effect without I/O; `on_order_events` writes the effects of
# a whole run of events (a Kafka batch, or a batch of one) with a constant number of round trips.


@dataclass(frozen=True)
class _OrderSurvey:
    """The survey an order event asks for, before its origin ticket is looked up."""

    invitation: repository.NewInvitation
    created_at: datetime


OrderEffect = _OrderSurvey | repository.CancelledOrder
OrderRule = Callable[[CloudEvent[Any], Context], OrderEffect]


def _order_survey(
    data: OrderEventData, ctx: Context, kind: SurveyKind, origin: str, anchor: datetime
) -> _OrderSurvey:
    inv = repository.NewInvitation(
        survey_id=uuid.uuid4().hex,
        shop_id=data.shop_id,
        kind=kind,
        origin=origin,
        customer=data.customer.model_dump(mode="json", exclude_none=True),
        customer_id=data.customer.id,
        customer_email=_email(data.customer.email),
        order_id=data.order_id,
        ticket_id=None,
        channel=None,
        category=None,
        locale=page_language(data.customer.locale, ctx.shop_locale(data.shop_id)),
        due_at=anchor + ctx.config.delay(kind, data.shop_id),
    )
    return _OrderSurvey(inv, anchor)


def _delivered(event: CloudEvent[Any], ctx: Context) -> OrderEffect:
    data: OrderDelivered = event.data
    ctx.known_shop(data.shop_id)
    return _order_survey(data, ctx, SurveyKind.NPS, f"order:{data.order_id}", data.delivered_at)


def _cancelled(event: CloudEvent[Any], ctx: Context) -> OrderEffect:
    data: OrderCancelled = event.data
    ctx.known_shop(data.shop_id)
    return repository.CancelledOrder(data.shop_id, data.order_id, event.time)


def _return_closed(event: CloudEvent[Any], ctx: Context) -> OrderEffect:
    """return.received or refund.issued: the return is done; one CES survey per return."""
    data: ReturnReceived | RefundIssued = event.data
    ctx.known_shop(data.shop_id)
    origin = f"return:{data.return_id}" if data.return_id else f"refund:{data.order_id}"
    # Return/refund events carry no business time of their own: the survey is timed from receipt.
    return _order_survey(data, ctx, SurveyKind.CES, origin, ctx.now())


def _repair_completed(event: CloudEvent[Any], ctx: Context) -> OrderEffect:
    data: RepairCompleted = event.data
    ctx.known_shop(data.shop_id)
    return _order_survey(data, ctx, SurveyKind.CES, f"repair:{data.repair_id}", ctx.now())


ORDER_RULES: dict[str, OrderRule] = {
    "order.delivered": _delivered,
    "order.cancelled": _cancelled,
    "return.received": _return_closed,
    "refund.issued": _return_closed,
    "repair.completed": _repair_completed,
}
"""The order event types survey consumes, and what each one does."""


async def on_order_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """Apply a run of order events (record order) as if one after another, in at most three round
    trips: origin tickets of the orders to survey, the invitations, the cancellations.

    Every rule runs before anything is written, so an unknown shop (Unprocessable) raises with nothing
    done; the runtime then redoes the run event by event and dead-letters just that event. The
    orders consumer never writes tickets, so one read of them serves the whole run."""
    effects = [ORDER_RULES[event.type](event, ctx) for event in events]
    surveys = [e for e in effects if isinstance(e, _OrderSurvey)]
    cancellations = [e for e in effects if isinstance(e, repository.CancelledOrder)]
    scheduled: list[repository.NewInvitation] = []
    if surveys:
        origins = await repository.tickets_of_orders(
            conn,
            ((s.invitation.shop_id, s.invitation.order_id) for s in surveys if s.invitation.order_id),
        )
        scheduled = await repository.schedule_many(
            conn, [(_with_origin(s.invitation, origins), s.created_at) for s in surveys]
        )
    await repository.record_cancelled_orders(conn, cancellations)
    for inv in scheduled:
        on_commit(SCHEDULED.labels(inv.kind.value).inc)


def _with_origin(
    inv: repository.NewInvitation, origins: dict[tuple[str, str], repository.OriginTicket]
) -> repository.NewInvitation:
    ticket = origins.get((inv.shop_id, inv.order_id)) if inv.order_id else None
    return replace(inv, channel=ticket.channel, category=ticket.category) if ticket else inv


# -- tickets ---------------------------------------------------------------------------------------


async def _track(
    conn: Connection, data: TicketEventData, open_now: bool, at: datetime, email: str | None = None
) -> None:
    await repository.upsert_ticket(
        conn,
        shop_id=data.shop_id,
        ticket_id=data.ticket_id,
        customer_id=data.customer_id,
        customer_email=_email(email),
        order_id=data.order_id,
        channel=data.channel.value,
        category=data.category.value,
        is_open=open_now,
        at=at,
    )


async def on_ticket_created(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketCreated = event.data
    ctx.known_shop(data.shop_id)
    await _track(conn, data, is_open(data.status), event.time, data.customer_email)


async def on_ticket_status_changed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketStatusChanged = event.data
    ctx.known_shop(data.shop_id)
    await _track(conn, data, is_open(data.status), data.at)


async def on_ticket_reopened(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketReopened = event.data
    ctx.known_shop(data.shop_id)
    await _track(conn, data, True, data.at)


async def on_ticket_merged(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """A merged ticket lives on in the one it was merged into; it is no longer open by itself."""
    data: TicketMerged = event.data
    ctx.known_shop(data.shop_id)
    await _track(conn, data, False, data.at)


async def on_ticket_solved(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketSolved = event.data
    ctx.known_shop(data.shop_id)
    await _track(conn, data, is_open(TicketStatus.SOLVED), data.at, data.customer_email)
    email = _email(data.customer_email)
    customer = Customer(
        id=data.customer_id or email or f"ticket:{data.ticket_id}",
        email=email,
        locale=data.customer_locale,
    )
    inv = repository.NewInvitation(
        survey_id=uuid.uuid4().hex,
        shop_id=data.shop_id,
        kind=SurveyKind.CSAT,
        origin=f"ticket:{data.ticket_id}",
        customer=customer.model_dump(mode="json", exclude_none=True),
        customer_id=data.customer_id,
        customer_email=email,
        order_id=data.order_id,
        ticket_id=data.ticket_id,
        channel=data.channel.value,
        category=data.category.value,
        locale=page_language(data.customer_locale, ctx.shop_locale(data.shop_id)),
        due_at=data.at + ctx.config.delay(SurveyKind.CSAT, data.shop_id),
        agent_id=data.assignee_agent_id,
        team_id=data.team_id,
    )
    if await repository.schedule(conn, inv, data.at):
        on_commit(SCHEDULED.labels(SurveyKind.CSAT.value).inc)


TICKET_HANDLERS: dict[str, EventHandler[Context]] = {
    "ticket.created": on_ticket_created,
    "ticket.status_changed": on_ticket_status_changed,
    "ticket.reopened": on_ticket_reopened,
    "ticket.merged": on_ticket_merged,
    "ticket.solved": on_ticket_solved,
}
"""The survey-tickets consumer: each ticket event type survey applies, and its handler."""
