"""Housekeeping without Postgres: when a ticket left alone is deflected, reminded, solved or closed,
with which reason, and that acting once leaves nothing to do twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.contacts import Channel
from schemas.v1.tickets import (
    Category,
    Priority,
    TicketClosed,
    TicketSolved,
    TicketSource,
    TicketStatus,
)
from services.intake.domain import housekeeping
from services.intake.domain.settings import Housekeeping
from services.intake.domain.ticket import Change, Ticket, TicketCustomer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = TicketStatus
DEFAULTS = Housekeeping()  # close after 4 days, remind after 3, solve after 7


def ticket(status: TicketStatus = S.OPEN, **fields: object) -> Ticket:
    base = Ticket(
        id="t-1",
        shop_id="shop-a",
        status=S.OPEN,
        channel=Channel.EMAIL,
        category=Category.OTHER,
        priority=Priority.NORMAL,
        subject="Question",
        source=TicketSource.CONTACT,
        source_ref=None,
        customer=TicketCustomer(key="email:anna@example.com", email="anna@example.com"),
        order_id=None,
        is_repeat=False,
        repeat_of=None,
        created_at=T0,
        updated_at=T0,
        last_activity_at=T0,
        agent_replies=1,
    )
    changed = base.set_status(status, T0).ticket if status is not S.OPEN else base
    return replace(changed, **fields)  # type: ignore[arg-type]


def reason_of(change: Change) -> str | None:
    found = [e.reason for e in change.events if isinstance(e, TicketSolved | TicketClosed)]
    assert len(found) == 1
    return found[0]


def test_a_deflected_answer_is_solved_with_its_reason_once_its_time_is_up() -> None:
    waiting = ticket(S.PENDING, deflect_at=T0 + timedelta(hours=24))
    assert housekeeping.deflect(waiting, T0 + timedelta(hours=23)) is None
    change = housekeeping.deflect(waiting, T0 + timedelta(hours=24))
    assert change is not None
    assert (change.ticket.status, change.ticket.deflect_at) == (S.SOLVED, None)
    assert reason_of(change) == "deflected"
    assert housekeeping.deflect(change.ticket, T0 + timedelta(days=2)) is None
    # the customer wrote back (open again) or an agent acted: no longer the answer's to settle
    assert housekeeping.deflect(replace(waiting, status=S.OPEN), T0 + timedelta(days=2)) is None


def test_a_pending_ticket_is_reminded_once_then_solved() -> None:
    pending = ticket(S.PENDING)
    assert pending.pending_since == T0
    assert housekeeping.remind(pending, DEFAULTS, T0 + timedelta(days=2)) is None
    reminded = housekeeping.remind(pending, DEFAULTS, T0 + timedelta(days=3))
    assert reminded is not None
    assert reminded.changes == {"reminded_at": T0 + timedelta(days=3)}
    assert housekeeping.remind(reminded.ticket, DEFAULTS, T0 + timedelta(days=4)) is None
    assert housekeeping.solves_on(pending, DEFAULTS) == T0 + timedelta(days=7)

    assert housekeeping.solve_unanswered(reminded.ticket, DEFAULTS, T0 + timedelta(days=6)) is None
    solved = housekeeping.solve_unanswered(reminded.ticket, DEFAULTS, T0 + timedelta(days=7))
    assert solved is not None
    assert reason_of(solved) == "no_reply"
    # pending again later: a new wait and a new reminder
    again = solved.ticket.set_status(S.OPEN, T0 + timedelta(days=8)).ticket.set_status(
        S.PENDING, T0 + timedelta(days=9)
    )
    assert (again.ticket.pending_since, again.ticket.reminded_at) == (T0 + timedelta(days=9), None)


def test_a_solved_ticket_closes_after_the_shops_time_and_only_then() -> None:
    solved = ticket(S.SOLVED)
    assert housekeeping.auto_close(solved, DEFAULTS, T0 + timedelta(days=3, hours=23)) is None
    closed = housekeeping.auto_close(solved, DEFAULTS, T0 + timedelta(days=4))
    assert closed is not None
    assert closed.ticket.status is S.CLOSED
    assert reason_of(closed) == "auto_close"
    assert (
        housekeeping.auto_close(solved, Housekeeping(close_solved_after_days=None), T0 + timedelta(days=99))
        is None
    )


statuses = st.sampled_from(list(TicketStatus))
offsets = st.integers(0, 12 * 24).map(lambda h: timedelta(hours=h))
setting = st.none() | st.integers(1, 10).map(float)


@given(
    status=statuses,
    deflect=st.none() | offsets,
    reminded=st.booleans(),
    now=offsets,
    remind=setting,
    solve=setting,
    close=setting,
)
def test_a_ticket_left_alone_meets_at_most_one_rule_and_never_twice(
    status: TicketStatus,
    deflect: timedelta | None,
    reminded: bool,
    now: timedelta,
    remind: float | None,
    solve: float | None,
    close: float | None,
) -> None:
    if remind is not None and solve is not None and remind >= solve:
        remind = None
    settings = Housekeeping(
        remind_pending_after_days=remind, solve_pending_after_days=solve, close_solved_after_days=close
    )
    state = ticket(
        status,
        deflect_at=T0 + deflect if deflect is not None and status is S.PENDING else None,
        reminded_at=T0 if reminded and status is S.PENDING else None,
    )
    at = T0 + now
    rules: tuple[Callable[[Ticket], Change | None], ...] = (
        lambda t: housekeeping.deflect(t, at),
        lambda t: housekeeping.solve_unanswered(t, settings, at),
        lambda t: housekeeping.remind(t, settings, at),
        lambda t: housekeeping.auto_close(t, settings, at),
    )
    acting = [change for rule in rules if (change := rule(state)) is not None]
    assert len(acting) <= 1
    for change in acting:
        # acted on, the ticket is due for nothing the same rule does (a second sweep does nothing)
        assert all(rule(change.ticket) is None for rule in rules[:3])
        if change.ticket.status is S.SOLVED:
            assert change.ticket.solved_at == at
