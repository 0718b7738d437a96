"""Event and command handlers: apply the survey rules, write state and outbox events in the caller's
transaction."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.outbox import enqueue
from runtime.shops import ShopRegistry
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import (
    OrderCancelled,
    OrderDelivered,
    OrderEventData,
    RefundIssued,
    RepairCompleted,
    ReturnReceived,
)
from schemas.v1.surveys import SurveyInvited
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
from services.survey.clocked import NowFn
from services.survey.config import SurveyConfig
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.locale import page_language
from services.survey.domain.throttle import decide
from services.survey.domain.tickets import is_open
from services.survey.domain.tokens import hash_token

SOURCE = "careloop/survey"

SCHEDULED = Counter("careloop_survey_scheduled_total", "Survey invitations scheduled", ["kind"])
DECISIONS = Counter(
    "careloop_survey_decisions_total", "Send/suppress decisions on due invitations", ["kind", "reason"]
)


@dataclass(frozen=True)
class Context:
    """What handlers need besides the event and the connection."""

    shops: ShopRegistry
    config: SurveyConfig
    topic: str
    """The (prefixed) survey.events topic."""
    public_base_url: str
    now: NowFn
    """Domain time (runtime.clock, read at call time)."""


def _known_shop(ctx: Context, shop_id: str) -> None:
    if shop_id not in ctx.shops:
        raise Unprocessable(f"unknown shop {shop_id}")


def _email(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def _shop_locale(ctx: Context, shop_id: str) -> str | None:
    shop = ctx.shops.get(shop_id)
    return shop.locale if shop else None


async def _schedule_for_order(
    data: OrderEventData, conn: Connection, ctx: Context, kind: SurveyKind, origin: str, anchor: datetime
) -> None:
    origin_ticket = await repository.ticket_of_order(conn, data.shop_id, data.order_id)
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
        channel=origin_ticket["channel"] if origin_ticket else None,
        category=origin_ticket["category"] if origin_ticket else None,
        locale=page_language(data.customer.locale, _shop_locale(ctx, data.shop_id)),
        due_at=anchor + ctx.config.delay(kind, data.shop_id),
    )
    if await repository.schedule(conn, inv, anchor):
        SCHEDULED.labels(kind.value).inc()


# -- orders ----------------------------------------------------------------------------------------


async def on_order_delivered(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: OrderDelivered = event.data
    _known_shop(ctx, data.shop_id)
    await _schedule_for_order(data, conn, ctx, SurveyKind.NPS, f"order:{data.order_id}", data.delivered_at)


async def on_order_cancelled(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: OrderCancelled = event.data
    _known_shop(ctx, data.shop_id)
    await repository.record_cancelled_order(conn, data.shop_id, data.order_id, event.time)


async def on_return_closed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """return.received or refund.issued: the return is done; one CES survey per return."""
    data: ReturnReceived | RefundIssued = event.data
    _known_shop(ctx, data.shop_id)
    origin = f"return:{data.return_id}" if data.return_id else f"refund:{data.order_id}"
    # Return/refund events carry no business time of their own: the survey is timed from receipt.
    await _schedule_for_order(data, conn, ctx, SurveyKind.CES, origin, ctx.now())


async def on_repair_completed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: RepairCompleted = event.data
    _known_shop(ctx, data.shop_id)
    await _schedule_for_order(data, conn, ctx, SurveyKind.CES, f"repair:{data.repair_id}", ctx.now())


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
    _known_shop(ctx, data.shop_id)
    await _track(conn, data, is_open(data.status), event.time, data.customer_email)


async def on_ticket_status_changed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketStatusChanged = event.data
    _known_shop(ctx, data.shop_id)
    await _track(conn, data, is_open(data.status), data.at)


async def on_ticket_reopened(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketReopened = event.data
    _known_shop(ctx, data.shop_id)
    await _track(conn, data, True, data.at)


async def on_ticket_merged(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """A merged ticket lives on in the one it was merged into; it is no longer open by itself."""
    data: TicketMerged = event.data
    _known_shop(ctx, data.shop_id)
    await _track(conn, data, False, data.at)


async def on_ticket_solved(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketSolved = event.data
    _known_shop(ctx, data.shop_id)
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
        locale=page_language(data.customer_locale, _shop_locale(ctx, data.shop_id)),
        due_at=data.at + ctx.config.delay(SurveyKind.CSAT, data.shop_id),
    )
    if await repository.schedule(conn, inv, data.at):
        SCHEDULED.labels(SurveyKind.CSAT.value).inc()


# -- the sweep: due invitations are sent or suppressed ---------------------------------------------


def answer_link(ctx: Context, shop_id: str, token: str) -> str:
    shop = ctx.shops.get(shop_id)
    base = (shop.public_base_url if shop and shop.public_base_url else ctx.public_base_url).rstrip("/")
    return f"{base}/s/{token}"


async def send_or_suppress(inv: asyncpg.Record, conn: Connection, ctx: Context, now: datetime) -> bool:
    """Decide one due invitation; True if it was sent."""
    inv = await repository.attach_origin_ticket(conn, inv)
    kind = SurveyKind(inv["kind"])
    decision = decide(now, ctx.config.window(kind), await repository.circumstances(conn, inv))
    await repository.record_decision(conn, inv, decision, now)
    DECISIONS.labels(kind.value, decision.reason.value).inc()
    if not decision.send:
        await repository.mark_suppressed(conn, inv["survey_id"])
        return False
    token = secrets.token_urlsafe(32)
    expires_at = now + ctx.config.token_ttl
    await repository.mark_sent(conn, inv["survey_id"], hash_token(token), now, expires_at)
    invited = SurveyInvited(
        shop_id=inv["shop_id"],
        survey_id=inv["survey_id"],
        kind=kind,
        customer=Customer.model_validate(inv["customer"]),
        order_id=inv["order_id"],
        ticket_id=inv["ticket_id"],
        link=answer_link(ctx, inv["shop_id"], token),
        expires_at=expires_at,
        locale=inv["locale"],
    )
    await enqueue(conn, ctx.topic, make_event("survey.invited", SOURCE, invited, subject=inv["survey_id"]))
    return True
