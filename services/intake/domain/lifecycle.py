"""Ticket status transitions, and the facts derived from a ticket's history."""

from __future__ import annotations

from schemas.v1.tickets import TicketStatus

S = TicketStatus
ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.OPEN: frozenset({S.PENDING, S.ON_HOLD, S.SOLVED, S.CLOSED}),
    S.PENDING: frozenset({S.OPEN, S.ON_HOLD, S.SOLVED, S.CLOSED}),
    S.ON_HOLD: frozenset({S.OPEN, S.PENDING, S.SOLVED, S.CLOSED}),
    S.SOLVED: frozenset({S.OPEN, S.CLOSED}),  # back to open is a reopen
    S.CLOSED: frozenset(),  # final: a new message opens a new ticket
}
ACTIVE = frozenset({S.OPEN, S.PENDING, S.ON_HOLD})


class TransitionRefused(Exception):
    def __init__(self, current: TicketStatus, target: TicketStatus) -> None:
        super().__init__(f"a {current.value} ticket cannot become {target.value}")
        self.current = current
        self.target = target


def check_transition(current: TicketStatus, target: TicketStatus) -> bool:
    """True if the status changes, False for a no-op; TransitionRefused if not allowed."""
    if current is target:
        return False
    if target not in ALLOWED[current]:
        raise TransitionRefused(current, target)
    return True


def status_after_customer_message(current: TicketStatus) -> TicketStatus:
    """The customer answered: a ticket waiting on them (or solved) needs an agent again.
    On hold stays on hold: it waits on a third party, not on the customer."""
    if current in (S.PENDING, S.SOLVED):
        return S.OPEN
    return current


def is_first_contact_resolution(agent_replies: int, reopen_count: int) -> bool:
    return agent_replies == 1 and reopen_count == 0
