"""What happens to tickets left alone, per the shop's settings (domain/settings.py): an automatic
answer nobody wrote back to is solved as deflected, a ticket pending on the customer gets one
reminder and is later solved, a solved ticket closes for good. The sweeps (sweeps.py) find the
tickets; these rules decide again on the locked ticket, so a ticket that changed meanwhile (the
customer wrote, an agent acted, another instance got there first) is left as it is.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.v1.tickets import TicketClosed, TicketSolved, TicketStatus

from .settings import Housekeeping, days
from .ticket import Change, Ticket

S = TicketStatus


class Reason(StrEnum):
    """Why intake solved or closed a ticket by itself (ticket.solved / ticket.closed `reason`)."""

    DEFLECTED = "deflected"
    NO_REPLY = "no_reply"
    AUTO_CLOSE = "auto_close"


def _with_reason(change: Change, reason: Reason) -> Change:
    events = tuple(
        e.model_copy(update={"reason": reason.value}) if isinstance(e, TicketSolved | TicketClosed) else e
        for e in change.events
    )
    return replace(change, events=events)


def _waiting_since(ticket: Ticket) -> datetime | None:
    """When a ticket pending on the customer without an automatic answer started waiting."""
    if ticket.status is not S.PENDING or ticket.deflect_at is not None:
        return None
    return ticket.pending_since


def _due(since: datetime | None, after: timedelta | None, now: datetime) -> bool:
    return since is not None and after is not None and since + after <= now


def deflect(ticket: Ticket, now: datetime) -> Change | None:
    """Solved as deflected: its automatic answer waited for the customer in vain."""
    if ticket.status is not S.PENDING or ticket.deflect_at is None or ticket.deflect_at > now:
        return None
    return _with_reason(ticket.solve(now), Reason.DEFLECTED)


def solve_unanswered(ticket: Ticket, settings: Housekeeping, now: datetime) -> Change | None:
    """Solved: it stayed pending on the customer for the shop's time."""
    if not _due(_waiting_since(ticket), days(settings.solve_pending_after_days), now):
        return None
    return _with_reason(ticket.solve(now), Reason.NO_REPLY)


def remind(ticket: Ticket, settings: Housekeeping, now: datetime) -> Change | None:
    """Marked reminded (the reminder itself is a reply, sent beside it), if one is due: pending for
    the shop's reminder time, not reminded since it went pending, and not about to be solved."""
    since = _waiting_since(ticket)
    if ticket.reminded_at is not None or not _due(since, days(settings.remind_pending_after_days), now):
        return None
    if _due(since, days(settings.solve_pending_after_days), now):
        return None
    return Change(replace(ticket, reminded_at=now), {"reminded_at": now})


def solves_on(ticket: Ticket, settings: Housekeeping) -> datetime | None:
    """When a pending ticket will be solved if the customer stays silent (the reminder says so)."""
    after = days(settings.solve_pending_after_days)
    since = ticket.pending_since
    return since + after if since is not None and after is not None else None


def auto_close(ticket: Ticket, settings: Housekeeping, now: datetime) -> Change | None:
    """Closed for good: it stayed solved for the shop's time."""
    if ticket.status is not S.SOLVED or not _due(
        ticket.solved_at, days(settings.close_solved_after_days), now
    ):
        return None
    return _with_reason(ticket.close(now), Reason.AUTO_CLOSE)
