"""bench/sla_timers.py's own logic: the clocks it loads in chunks, and how it summarises the lags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.sla_timers import LATER, LATER_SPREAD, drain_rate, lag_summary, open_clocks

FIRST = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)


def test_chunks_build_exactly_the_clocks_of_one_go() -> None:
    whole = open_clocks(10, FIRST, 60.0)
    chunked = [r for start in range(0, 10, 4) for r in open_clocks(10, FIRST, 60.0, start, start + 4)]
    assert chunked == whole
    assert [r.clock.deadline for r in whole] == [FIRST + timedelta(seconds=6 * i) for i in range(10)]
    assert {r.clock.stages_done for r in whole} == {1}  # the warning is behind them: 2 events each


def test_clocks_not_due_in_the_window_stay_open_until_a_day_after_it() -> None:
    whole = open_clocks(10, FIRST, 60.0, due=4)
    deadlines = [d for d in (r.clock.deadline for r in whole) if d is not None]
    assert len(deadlines) == len(whole)
    assert deadlines[:4] == [FIRST + timedelta(seconds=15 * i) for i in range(4)]
    after_window = FIRST + timedelta(seconds=60) + LATER
    assert all(after_window <= d < after_window + LATER_SPREAD for d in deadlines[4:])
    assert deadlines[4:] == sorted(deadlines[4:])
    assert len(set(deadlines)) == 10
    chunked = [r for start in range(0, 10, 3) for r in open_clocks(10, FIRST, 60.0, start, start + 3, 4)]
    assert chunked == whole


def test_breaches_never_seen_count_as_the_latest() -> None:
    lags = [i / 100 for i in range(1, 101)]  # 0.01 .. 1.00 s
    complete = lag_summary(lags, 100)
    assert (complete["p50"], complete["p99"], complete["max"], complete["missing"]) == (0.5, 0.99, 1.0, 0)
    assert complete["share_within_1s"] == 1.0
    one_missing = lag_summary(lags[:99], 100)  # 1% missing: the p99 is still a seen one
    assert (one_missing["p99"], one_missing["max"], one_missing["missing"]) == (0.99, None, 1)
    assert "p99_at_least" not in lag_summary(lags[:99], 100, unseen_after=180.0)
    two_missing = lag_summary(lags[:98], 100, unseen_after=180.0)
    assert two_missing["p99"] is None
    assert two_missing["p99_at_least"] == 180.0
    assert two_missing["p50"] == 0.5
    assert two_missing["share_within_1s"] == 0.98


def test_a_burst_drains_at_its_count_over_the_latest_lag() -> None:
    assert drain_rate([0.5, 2.0, 1.0], 3, 0.0) == 1.5
    assert drain_rate([0.5, 2.0], 3, 0.0) is None  # one breach never reached Kafka
    assert drain_rate([0.5, 2.0, 1.0], 3, 60.0) is None  # spread over a window: not a burst
