"""Status transitions, what a customer's message does to a status, and first-contact resolution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.tickets import TicketStatus as S
from services.intake.domain.lifecycle import (
    ALLOWED,
    TransitionRefused,
    check_transition,
    is_first_contact_resolution,
    status_after_customer_message,
)


def test_closed_is_final_and_solved_only_reopens_or_closes() -> None:
    for target in S:
        if target is not S.CLOSED:
            with pytest.raises(TransitionRefused, match="a closed ticket cannot become"):
                check_transition(S.CLOSED, target)
    with pytest.raises(TransitionRefused):
        check_transition(S.SOLVED, S.PENDING)
    assert check_transition(S.SOLVED, S.OPEN)
    assert check_transition(S.OPEN, S.PENDING)
    assert check_transition(S.OPEN, S.OPEN) is False


def test_a_customer_message_wakes_pending_and_solved_but_not_on_hold() -> None:
    assert status_after_customer_message(S.PENDING) is S.OPEN
    assert status_after_customer_message(S.SOLVED) is S.OPEN
    assert status_after_customer_message(S.ON_HOLD) is S.ON_HOLD
    assert status_after_customer_message(S.OPEN) is S.OPEN


def test_fcr_is_one_agent_reply_and_no_reopen() -> None:
    assert is_first_contact_resolution(1, 0)
    assert not is_first_contact_resolution(0, 0)
    assert not is_first_contact_resolution(2, 0)
    assert not is_first_contact_resolution(1, 1)


@given(path=st.lists(st.sampled_from(S), max_size=20))
def test_any_sequence_of_requests_stays_within_the_allowed_graph(path: list[S]) -> None:
    status = S.OPEN
    was_closed = False
    for target in path:
        before = status
        try:
            if check_transition(status, target):
                status = target
        except TransitionRefused:
            assert target not in ALLOWED[before]
            continue
        assert status is before or status in ALLOWED[before]
        was_closed = was_closed or status is S.CLOSED
    assert status is S.CLOSED or not was_closed  # once closed, nothing leaves closed
