"""Whether a due invitation may go out, and the recorded reason when it may not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Reason(StrEnum):
    SENT = "sent"
    ORDER_CANCELLED = "order_cancelled"
    OPEN_TICKET = "open_ticket"
    THROTTLED_WINDOW = "throttled_window"
    NO_CONTACT = "no_contact"


@dataclass(frozen=True)
class Circumstances:
    """What is known about the customer when the invitation falls due."""

    order_cancelled: bool
    has_open_ticket: bool
    last_survey_sent_at: datetime | None
    """The customer's most recent invitation of the same kind in the same shop."""
    has_email: bool


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: Reason


def decide(now: datetime, window: timedelta, facts: Circumstances) -> Decision:
    """Ordered by how final the reason is: a cancelled order never gets a survey, an open ticket
    postpones nothing (the moment has passed), a recent survey protects the customer from fatigue."""
    if facts.order_cancelled:
        return Decision(False, Reason.ORDER_CANCELLED)
    if not facts.has_email:
        return Decision(False, Reason.NO_CONTACT)
    if facts.has_open_ticket:
        return Decision(False, Reason.OPEN_TICKET)
    if facts.last_survey_sent_at is not None and now - facts.last_survey_sent_at < window:
        return Decision(False, Reason.THROTTLED_WINDOW)
    return Decision(True, Reason.SENT)
