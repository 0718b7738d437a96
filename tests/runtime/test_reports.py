"""runtime.reports, pure: periods read in the shop's time zone, buckets that agree with SQL's
date_trunc, CSV that reads back as the same numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.reports import (
    MAX_BUCKETS,
    Granularity,
    Period,
    as_csv,
    bucket_start,
    buckets,
    period_of,
)

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # the day Warsaw moves its clocks forward


def test_a_date_is_midnight_in_the_shops_zone_and_the_default_is_the_last_30_days() -> None:
    period = period_of("2026-03-01", "2026-03-02", None, "Europe/Warsaw", NOW)
    assert period.since == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    assert period.until == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    default = period_of(None, None, None, "Europe/Warsaw", NOW)
    assert default.until > NOW
    assert default.until - default.since == timedelta(days=30)
    with_offset = period_of("2026-03-01T10:00:00+00:00", None, None, "Europe/Warsaw", NOW)
    assert with_offset.since == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "granularity", "message"),
    [
        ("yesterday", None, None, "ISO dates"),
        ("2026-03-10", "2026-03-01", None, "before"),
        ("2000-01-01", "2026-01-01", Granularity.DAY, "coarser"),
    ],
)
def test_unreadable_empty_or_too_fine_periods_are_refused(
    start: str, end: str | None, granularity: Granularity | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        period_of(start, end, granularity, "Europe/Warsaw", NOW)


def test_buckets_follow_local_days_iso_weeks_and_months() -> None:
    late_evening = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already April 1st in Warsaw
    assert bucket_start(late_evening, Granularity.DAY, "Europe/Warsaw") == date(2026, 4, 1)
    assert bucket_start(late_evening, Granularity.DAY, "Europe/London") == date(2026, 3, 31)
    assert bucket_start(late_evening, Granularity.WEEK, "Europe/Warsaw") == date(2026, 3, 30)  # Monday
    assert bucket_start(late_evening, Granularity.MONTH, "Europe/Warsaw") == date(2026, 4, 1)
    period = period_of("2026-01-15", "2026-04-02", Granularity.MONTH, "Europe/Warsaw", NOW)
    assert buckets(period) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    assert buckets(period_of("2026-03-01", "2026-03-03", Granularity.DAY, "Europe/Warsaw", NOW)) == [
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(["Europe/Warsaw", "Europe/London", "America/New_York", "Asia/Kolkata", "UTC"])


@given(instants, st.sampled_from(list(Granularity)), zones)
def test_every_instant_falls_in_one_of_its_periods_buckets(
    at: datetime, granularity: Granularity, zone: str
) -> None:
    period = Period(at - timedelta(days=40), at + timedelta(seconds=1), zone, granularity)
    listed = buckets(period)
    assert bucket_start(at, granularity, zone) in listed
    assert listed == sorted(set(listed))
    assert len(listed) <= MAX_BUCKETS


@given(
    st.lists(
        st.fixed_dictionaries(
            {"day": st.dates(), "n": st.integers(), "x": st.none() | st.floats(allow_nan=False)}
        )
    )
)
def test_csv_reads_back_as_the_same_values(rows: list[dict[str, object]]) -> None:
    text = as_csv(rows, ["day", "n", "x"])
    read = list(csv.DictReader(io.StringIO(text)))
    assert [r["day"] for r in read] == [str(r["day"]) for r in rows]
    assert [int(r["n"]) for r in read] == [r["n"] for r in rows]
    assert [None if r["x"] == "" else float(r["x"]) for r in read] == [r["x"] for r in rows]
