"""Throttling, tokens, locales and ticket state: pure rules, direct and property tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.tickets import TicketStatus
from services.survey.domain.locale import from_accept_language, page_language
from services.survey.domain.throttle import Circumstances, Reason, decide
from services.survey.domain.tickets import is_open
from services.survey.domain.tokens import TokenFacts, TokenState, hash_token, token_state

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=90)


def facts(**overrides: object) -> Circumstances:
    base: dict[str, object] = {
        "order_cancelled": False,
        "has_open_ticket": False,
        "last_survey_sent_at": None,
        "has_email": True,
    }
    base.update(overrides)
    return Circumstances(**base)  # type: ignore[arg-type]


def test_a_customer_with_nothing_against_it_is_surveyed() -> None:
    decision = decide(NOW, WINDOW, facts())
    assert decision.send
    assert decision.reason is Reason.SENT


def test_each_suppression_reason() -> None:
    assert decide(NOW, WINDOW, facts(order_cancelled=True)).reason is Reason.ORDER_CANCELLED
    assert decide(NOW, WINDOW, facts(has_open_ticket=True)).reason is Reason.OPEN_TICKET
    assert decide(NOW, WINDOW, facts(has_email=False)).reason is Reason.NO_CONTACT
    recent = facts(last_survey_sent_at=NOW - timedelta(days=89, hours=23))
    assert decide(NOW, WINDOW, recent).reason is Reason.THROTTLED_WINDOW


def test_the_window_ends_exactly_after_its_length() -> None:
    assert decide(NOW, WINDOW, facts(last_survey_sent_at=NOW - WINDOW)).send
    assert not decide(NOW, WINDOW, facts(last_survey_sent_at=NOW - WINDOW + timedelta(seconds=1))).send


def test_a_cancelled_order_wins_over_every_other_reason() -> None:
    everything = facts(order_cancelled=True, has_open_ticket=True, last_survey_sent_at=NOW, has_email=False)
    assert decide(NOW, WINDOW, everything).reason is Reason.ORDER_CANCELLED


@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(0, 400).map(lambda d: NOW - timedelta(days=d)),
)
def test_sent_if_and_only_if_no_reason_applies(
    cancelled: bool, open_ticket: bool, has_email: bool, last: datetime | None
) -> None:
    decision = decide(
        NOW,
        WINDOW,
        facts(
            order_cancelled=cancelled,
            has_open_ticket=open_ticket,
            has_email=has_email,
            last_survey_sent_at=last,
        ),
    )
    recent = last is not None and NOW - last < WINDOW
    assert decision.send == (not cancelled and not open_ticket and has_email and not recent)
    assert (decision.reason is Reason.SENT) == decision.send


def test_token_states() -> None:
    expires = NOW + timedelta(days=30)
    assert token_state(None, NOW) is TokenState.UNKNOWN
    assert token_state(TokenFacts(expires, None), NOW) is TokenState.VALID
    assert token_state(TokenFacts(expires, NOW), NOW) is TokenState.ANSWERED
    assert token_state(TokenFacts(expires, None), expires) is TokenState.EXPIRED
    # an answered link stays "answered" after it expires: the friendlier truth
    assert token_state(TokenFacts(expires, NOW), expires + timedelta(days=1)) is TokenState.ANSWERED


@given(st.text(min_size=1, max_size=64))
def test_token_hash_is_a_fixed_length_digest_not_the_token(token: str) -> None:
    digest = hash_token(token)
    assert len(digest) == 64
    assert digest != token
    assert digest == hash_token(token)


def test_page_language() -> None:
    assert page_language("pl-PL") == "pl"
    assert page_language("en_GB") == "en"
    assert page_language("de-DE", "pl") == "pl"  # a language we do not ship: the shop's
    assert page_language("de", None) == "en"
    assert from_accept_language("de-DE,pl;q=0.8,en;q=0.5") == "pl"
    assert from_accept_language(None) == "en"


def test_open_ticket_statuses() -> None:
    assert is_open(TicketStatus.OPEN)
    assert is_open(TicketStatus.PENDING)
    assert is_open(TicketStatus.ON_HOLD)
    assert not is_open(TicketStatus.SOLVED)
    assert not is_open(TicketStatus.CLOSED)
