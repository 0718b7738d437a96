"""Whether a ticket counts as open for survey throttling, from its lifecycle events."""

from __future__ import annotations

from schemas.v1.tickets import TicketStatus

CLOSED_STATUSES = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})


def is_open(status: TicketStatus) -> bool:
    """Pending and on-hold tickets are still the customer's unresolved problem: they count as open."""
    return status not in CLOSED_STATUSES
