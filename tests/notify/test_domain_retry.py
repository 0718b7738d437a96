from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.retry import SVIX_SCHEDULE_SECONDS, next_delay

schedules = st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=12)


def test_svix_schedule_without_jitter() -> None:
    delays = [next_delay(SVIX_SCHEDULE_SECONDS, n, 0.0, 0.5) for n in range(9)]
    assert delays == [0, 5, 300, 1800, 7200, 18000, 36000, 36000, None]


def test_jitter_spreads_both_ways() -> None:
    assert next_delay([100], 0, 0.1, 0.0) == pytest.approx(90)
    assert next_delay([100], 0, 0.1, 0.999999) == pytest.approx(110, abs=1e-3)


def test_negative_attempt_count_is_a_bug() -> None:
    with pytest.raises(ValueError, match="attempts_made"):
        next_delay([1], -1, 0.1, 0.5)


@given(schedules, st.integers(0, 20), st.floats(0, 0.5), st.floats(0, 1, exclude_max=True))
def test_delay_stays_within_the_jitter_band_until_the_schedule_ends(
    schedule: list[float], attempts: int, jitter: float, r: float
) -> None:
    delay = next_delay(schedule, attempts, jitter, r)
    if attempts >= len(schedule):
        assert delay is None
        return
    assert delay is not None
    base = schedule[attempts]
    assert base * (1 - jitter) - 1e-6 <= delay <= base * (1 + jitter) + 1e-6
    assert delay >= 0


@given(st.integers(0, 7), st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True))
def test_svix_schedule_is_non_decreasing_even_with_jitter_of_ten_percent(
    attempts: int, r1: float, r2: float
) -> None:
    # Neighbouring steps are far enough apart that ±10 % never reorders them.
    this = next_delay(SVIX_SCHEDULE_SECONDS, attempts, 0.1, r1)
    after = next_delay(SVIX_SCHEDULE_SECONDS, attempts + 1, 0.1, r2)
    assert this is not None
    if after is not None and SVIX_SCHEDULE_SECONDS[attempts + 1] > SVIX_SCHEDULE_SECONDS[attempts]:
        assert after > this
