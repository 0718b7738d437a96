"""Writing a ticket's changes and announcing them: the pieces every intake use case shares.

Each function takes the open connection of a transaction it does not own: the HTTP route or the
consumer commits (or rolls back) the state and the events together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg

from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue
from runtime.shops import ShopRegistry
from schemas.registry import make_event
from schemas.v1.tickets import (
    Author,
    TicketClosed,
    TicketCreated,
    TicketMessageAdded,
    TicketReopened,
    TicketSolved,
    TicketStatus,
    TicketStatusChanged,
)

from . import metrics
from . import repository as repo
from .domain.rules import DEFAULT_RULES, RuleTable

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


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def rules_for(conn: Connection, shop_id: str) -> RuleTable:
    return await repo.shop_rules(conn, shop_id) or DEFAULT_RULES


# -- events ----------------------------------------------------------------------------------------


def common_fields(ticket: asyncpg.Record) -> dict[str, Any]:
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


async def emit(conn: Connection, intake: Intake, event_type: str, data: Any) -> None:
    await enqueue(conn, intake.tickets_topic, make_event(event_type, SOURCE, data, subject=data.ticket_id))


async def emit_status_change(
    conn: Connection, intake: Intake, ticket: asyncpg.Record, previous: TicketStatus, at: datetime
) -> None:
    status = TicketStatus(ticket["status"])
    await emit(
        conn,
        intake,
        "ticket.status_changed",
        TicketStatusChanged(**common_fields(ticket), previous_status=previous, status=status, at=at),
    )
    if status is TicketStatus.SOLVED:
        resolution = (at - ticket["created_at"]).total_seconds()
        await emit(
            conn,
            intake,
            "ticket.solved",
            TicketSolved(
                **common_fields(ticket),
                at=at,
                resolution_seconds=resolution,
                first_contact_resolution=bool(ticket["fcr"]),
            ),
        )
        on_commit(
            partial(
                metrics.RESOLUTION_SECONDS.labels(ticket["channel"], ticket["category"]).observe, resolution
            )
        )
        on_commit(metrics.SOLVED.labels(str(bool(ticket["fcr"])).lower()).inc)
    elif status is TicketStatus.CLOSED:
        await emit(
            conn,
            intake,
            "ticket.closed",
            TicketClosed(**common_fields(ticket), at=at, merged_into_ticket_id=ticket["merged_into"]),
        )
    elif previous is TicketStatus.SOLVED:
        await emit(conn, intake, "ticket.reopened", TicketReopened(**common_fields(ticket), at=at))


async def add_message(
    conn: Connection, intake: Intake, ticket: asyncpg.Record, message: repo.NewMessage
) -> None:
    await repo.insert_message(conn, message)
    await emit(
        conn,
        intake,
        "ticket.message_added",
        TicketMessageAdded(
            **common_fields(ticket),
            message_id=message.id,
            author=Author(message.author),
            internal=message.internal,
            at=message.at,
        ),
    )


async def open_ticket(conn: Connection, intake: Intake, new: repo.NewTicket) -> asyncpg.Record | None:
    """Insert and announce a ticket; None if its source (survey, promise) already opened one."""
    if not await repo.insert_ticket(conn, new):
        return None
    ticket = await repo.ticket_for_update(conn, new.shop_id, new.id)
    assert ticket is not None
    await emit(
        conn,
        intake,
        "ticket.created",
        TicketCreated(
            **common_fields(ticket),
            subject=new.subject,
            is_repeat=new.is_repeat,
            source=new.source,
            source_ref=new.source_ref,
            at=new.at,
        ),
    )
    on_commit(metrics.TICKETS_CREATED.labels(new.channel, new.category, new.priority, new.source).inc)
    if new.is_repeat:
        on_commit(metrics.REPEAT_CONTACTS.labels(new.channel).inc)
    return ticket
