from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.attempts import AttemptOutcome, outcome_for_status
from services.notify.domain.breaker import (
    BreakerPolicy,
    BreakerState,
    after_failure,
    after_success,
    allowed_in_flight,
)
from services.notify.domain.filters import is_valid_pattern, matches
from services.notify.domain.ratelimit import TokenBucket

T0 = datetime(2026, 1, 5, tzinfo=UTC)
POLICY = BreakerPolicy(threshold=3, cooldown=timedelta(seconds=30))


def test_breaker_opens_after_the_threshold_then_allows_one_trial() -> None:
    state = BreakerState()
    for _ in range(2):
        state = after_failure(state, POLICY, T0)
    assert allowed_in_flight(state, POLICY, 4, T0) == 4
    state = after_failure(state, POLICY, T0)
    assert allowed_in_flight(state, POLICY, 4, T0 + timedelta(seconds=29)) == 0
    assert allowed_in_flight(state, POLICY, 4, T0 + timedelta(seconds=30)) == 1  # half-open
    reopened = after_failure(state, POLICY, T0 + timedelta(seconds=30))
    assert allowed_in_flight(reopened, POLICY, 4, T0 + timedelta(seconds=59)) == 0
    assert allowed_in_flight(after_success(reopened), POLICY, 4, T0) == 4


@given(st.lists(st.booleans(), max_size=40))
def test_breaker_is_open_exactly_after_threshold_consecutive_failures(results: list[bool]) -> None:
    state = BreakerState()
    streak = 0
    for ok in results:
        state = after_success(state) if ok else after_failure(state, POLICY, T0)
        streak = 0 if ok else streak + 1
    assert state.failures == streak
    assert (allowed_in_flight(state, POLICY, 4, T0) == 0) == (streak >= POLICY.threshold)


def test_token_bucket_paces_attempts() -> None:
    bucket = TokenBucket.full(rate=2.0, now=0.0)
    granted = []
    for step in range(8):
        bucket, ok = bucket.take(step * 0.25)
        granted.append(ok)
    # the burst of 2 plus the refill at 2/s: three in the first half second, then one per half second
    assert granted == [True, True, True, False, True, False, True, False]


@given(st.floats(0.1, 100), st.lists(st.floats(0, 0.5), max_size=100))
def test_token_bucket_never_grants_more_than_burst_plus_rate_times_elapsed(
    rate: float, gaps: list[float]
) -> None:
    bucket = TokenBucket.full(rate, 0.0)
    now, granted = 0.0, 0
    for gap in gaps:
        now += gap
        bucket, ok = bucket.take(now)
        granted += ok
    assert granted <= bucket.burst + rate * now + 1e-9


def test_event_type_filters() -> None:
    assert matches(["order.*"], "order.shipped")
    assert not matches(["order.*"], "orders.shipped")
    assert not matches(["order.*"], "return.requested")
    assert matches(["return.requested", "refund.issued"], "refund.issued")
    assert matches(["*"], "ticket.solved")
    assert not matches([], "ticket.solved")
    assert all(is_valid_pattern(p) for p in ("*", "order.*", "order.shipped", "order.promise_breached"))
    assert not any(is_valid_pattern(p) for p in ("", "order*", "*.shipped", "order..x", "Order.x", "a.*.b"))


@given(st.from_regex(r"[a-z]{1,8}(\.[a-z_]{1,8}){1,2}", fullmatch=True))
def test_a_wildcard_matches_exactly_its_prefix(event_type: str) -> None:
    prefix = event_type.split(".")[0]
    assert matches([f"{prefix}.*"], event_type)
    assert not matches([f"{prefix}x.*"], event_type)
    assert matches([event_type], event_type)


def test_status_codes() -> None:
    assert outcome_for_status(200) is AttemptOutcome.SUCCESS
    assert outcome_for_status(204) is AttemptOutcome.SUCCESS
    assert outcome_for_status(302) is AttemptOutcome.HTTP_ERROR  # redirects are not followed
    assert outcome_for_status(410) is AttemptOutcome.GONE
    assert outcome_for_status(500) is AttemptOutcome.HTTP_ERROR
