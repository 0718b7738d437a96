"""The attempt-outcome policy: what a success or a failure does to the delivery (retry when, dead letter)
and to the endpoint (breaker, failing period, disablement), directly and over generated histories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.attempts import AttemptOutcome
from services.notify.domain.breaker import BreakerPolicy, BreakerState, allowed_in_flight
from services.notify.domain.outcome import HEALTHY, DeadLetter, Health, OutcomePolicy, Retry

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = OutcomePolicy(
    retry_schedule=(0, 5, 300, 1800),
    retry_jitter=0.0,
    breaker=BreakerPolicy(threshold=3, cooldown=timedelta(seconds=30)),
    disable_after=timedelta(days=5),
)
FAILURES = [o for o in AttemptOutcome if not o.succeeded]


def test_a_first_failure_starts_the_failing_period_and_retries_on_schedule() -> None:
    decision = POLICY.failed(AttemptOutcome.HTTP_ERROR, HEALTHY, True, 0, T0, 0.5)
    assert decision == Retry(T0 + timedelta(seconds=5), Health(BreakerState(1, None), T0), None)


def test_the_last_attempt_of_a_round_dead_letters_and_the_breaker_opens_at_the_threshold() -> None:
    health = Health(BreakerState(2, None), T0)
    decision = POLICY.failed(AttemptOutcome.TIMEOUT, health, True, 3, T0 + timedelta(hours=1), 0.5)
    assert isinstance(decision, DeadLetter)
    assert decision.attempts == 4
    opened = T0 + timedelta(hours=1, seconds=30)
    assert decision.health == Health(BreakerState(3, opened), T0)  # the failing period goes on
    assert decision.disable is None


def test_gone_disables_an_enabled_endpoint_at_once() -> None:
    decision = POLICY.failed(AttemptOutcome.GONE, HEALTHY, True, 0, T0, 0.5)
    assert decision.disable is not None
    assert (decision.disable.reason, decision.disable.kind) == ("the receiver answered 410 Gone", "gone")
    assert isinstance(decision, Retry)  # the delivery keeps its schedule: a re-enabled endpoint gets it
    assert POLICY.failed(AttemptOutcome.GONE, HEALTHY, False, 0, T0, 0.5).disable is None


def test_failing_for_the_whole_period_disables_the_endpoint() -> None:
    since = T0 - timedelta(days=5)
    decision = POLICY.failed(
        AttemptOutcome.CONNECT_ERROR, Health(BreakerState(9, None), since), True, 0, T0, 0
    )
    assert decision.disable is not None
    assert decision.disable.reason == f"failing continuously since {since.isoformat()}"
    assert decision.disable.kind == "failing"
    just_short = Health(BreakerState(9, None), since + timedelta(seconds=1))
    assert POLICY.failed(AttemptOutcome.CONNECT_ERROR, just_short, True, 0, T0, 0).disable is None


def test_a_success_is_no_failure() -> None:
    with pytest.raises(ValueError, match="did not fail"):
        POLICY.failed(AttemptOutcome.SUCCESS, HEALTHY, True, 0, T0, 0.5)


health_states = st.builds(
    Health,
    st.builds(
        BreakerState,
        st.integers(0, 20),
        st.none() | st.datetimes(timezones=st.just(UTC)),
    ),
    st.none() | st.datetimes(timezones=st.just(UTC)),
)


@given(health_states)
def test_a_success_closes_the_breaker_and_ends_the_failing_period_whatever_they_were(health: Health) -> None:
    assert POLICY.succeeded(health) == HEALTHY
    assert allowed_in_flight(POLICY.succeeded(health).breaker, POLICY.breaker, 4, T0) == 4


@dataclass
class Endpoint:
    """What the worker records of one endpoint and its current delivery, updated by each decision."""

    health: Health = HEALTHY
    enabled: bool = True
    round_attempts: int = 0


steps = st.lists(
    st.tuples(
        st.sampled_from([AttemptOutcome.SUCCESS, *FAILURES]),
        st.integers(0, 3 * 24 * 3600),  # seconds since the previous attempt
        st.floats(0, 1, exclude_max=True),  # the jitter's draw
    ),
    max_size=40,
)


@given(
    steps,
    st.lists(st.floats(0, 36000), min_size=1, max_size=8).map(tuple),
    st.floats(0, 0.5),
)
def test_over_any_history_the_decisions_follow_the_rules(
    history: list[tuple[AttemptOutcome, int, float]], schedule: tuple[float, ...], jitter: float
) -> None:
    policy = OutcomePolicy(schedule, jitter, POLICY.breaker, POLICY.disable_after)
    state, now, streak, run_began = Endpoint(), T0, 0, None
    for outcome, gap, draw in history:
        now += timedelta(seconds=gap)
        if outcome.succeeded:
            state = Endpoint(policy.succeeded(state.health), state.enabled, 0)
            streak, run_began = 0, None
            assert state.health == HEALTHY
            continue
        streak += 1
        run_began = run_began or now
        decision = policy.failed(outcome, state.health, state.enabled, state.round_attempts, now, draw)
        # the breaker counts the failures in a row and is open from the threshold on
        assert decision.health.breaker.failures == streak
        is_open = allowed_in_flight(decision.health.breaker, policy.breaker, 4, now) == 0
        assert is_open == (streak >= policy.breaker.threshold)
        assert decision.health.failing_since == run_began
        # disabled only while enabled, for a 410 or a failing period as long as the limit
        should_disable = state.enabled and (
            outcome is AttemptOutcome.GONE or now - run_began >= policy.disable_after
        )
        assert (decision.disable is not None) == should_disable
        attempts = state.round_attempts + 1
        if isinstance(decision, DeadLetter):
            assert attempts == len(schedule) == decision.attempts
            state = Endpoint(decision.health, state.enabled and not should_disable, 0)  # replayed
            continue
        assert attempts < len(schedule)
        base = timedelta(seconds=schedule[attempts])
        assert now + base * (1 - jitter) - timedelta(microseconds=1) <= decision.at
        assert decision.at <= now + base * (1 + jitter) + timedelta(microseconds=1)
        state = Endpoint(decision.health, state.enabled and not should_disable, attempts)
