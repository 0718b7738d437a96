"""Business-hours arithmetic: examples across weekends, holidays and DST, plus properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain.calendar import CALENDAR_TIME, BusinessCalendar, office_hours
from services.sla.domain.calendar_document import default_calendar_document

WARSAW = ZoneInfo("Europe/Warsaw")
POLAND = default_calendar_document("Europe/Warsaw").to_calendar()


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=WARSAW)  # type: ignore[arg-type,misc]


def test_friday_afternoon_plus_two_hours_lands_on_monday_morning() -> None:
    friday_1630 = local(2026, 1, 9, 16, 30)
    assert POLAND.add(friday_1630, timedelta(hours=2)) == local(2026, 1, 12, 10, 30)


def test_polish_holidays_are_skipped() -> None:
    # 2026-01-06 (Epiphany) is a Tuesday holiday.
    monday_1600 = local(2026, 1, 5, 16, 0)
    assert POLAND.add(monday_1600, timedelta(hours=2)) == local(2026, 1, 7, 10, 0)
    assert POLAND.measure(local(2026, 1, 5, 9), local(2026, 1, 8, 9)) == timedelta(hours=16)


def test_outside_hours_the_target_starts_at_the_next_opening() -> None:
    saturday = local(2026, 1, 10, 12, 0)
    assert POLAND.add(saturday, timedelta(minutes=5)) == local(2026, 1, 12, 9, 5)
    assert POLAND.measure(saturday, local(2026, 1, 12, 9, 0)) == timedelta(0)


def test_business_hours_keep_their_local_times_across_dst() -> None:
    # Warsaw springs forward on 2026-03-29 and falls back on 2026-10-25 (both Sundays).
    friday = local(2026, 3, 27, 16, 0)
    deadline = POLAND.add(friday, timedelta(hours=2))
    assert deadline == local(2026, 3, 30, 10, 0)
    assert deadline.astimezone(UTC).hour == 8  # CEST, one hour less than in winter
    assert POLAND.add(local(2026, 10, 23, 16, 0), timedelta(hours=2)).astimezone(UTC).hour == 9


def test_a_round_the_clock_calendar_has_a_23_hour_spring_day_and_a_25_hour_autumn_day() -> None:
    always = BusinessCalendar("Europe/Warsaw", (((0, 1440),),) * 7)
    assert always.measure(local(2026, 3, 29, 0), local(2026, 3, 30, 0)) == timedelta(hours=23)
    assert always.measure(local(2026, 10, 25, 0), local(2026, 10, 26, 0)) == timedelta(hours=25)


def test_opening_hours_inside_the_dst_gap_start_when_the_clocks_jump() -> None:
    night = BusinessCalendar("Europe/Warsaw", (((150, 210),),) * 7)  # 02:30-03:30 local
    spans = night.spans_of(date(2026, 3, 29))
    assert spans == [(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC))]


def test_calendar_time_counts_everything() -> None:
    start = local(2026, 1, 9, 16, 30)
    assert CALENDAR_TIME.add(start, timedelta(hours=2)) == local(2026, 1, 9, 18, 30)
    assert CALENDAR_TIME.measure(start, start - timedelta(1)) == timedelta(0)


# -- properties ------------------------------------------------------------------------------
span_minutes = st.integers(min_value=0, max_value=1440)


@st.composite
def opening_hours(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    cuts = sorted(set(draw(st.lists(span_minutes, min_size=0, max_size=6))))
    return tuple((a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    weekly = tuple(draw(opening_hours()) for _ in range(7))
    if not any(weekly):
        weekly = office_hours()
    zone = draw(st.sampled_from(["Europe/Warsaw", "Europe/London", "America/New_York", "UTC"]))
    country = draw(st.sampled_from([None, "PL"]))
    closed = frozenset(draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=10)))
    return BusinessCalendar(zone, weekly, country, closed)


# instants around both 2026 DST changes and across the year, to the microsecond
instants = st.one_of(
    st.datetimes(datetime(2026, 3, 25), datetime(2026, 4, 2), timezones=st.just(UTC)),
    st.datetimes(datetime(2026, 10, 21), datetime(2026, 10, 29), timezones=st.just(UTC)),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
)
durations = st.timedeltas(timedelta(microseconds=1), timedelta(days=20))
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(calendars(), instants, durations)
def test_adding_then_measuring_gives_back_the_same_business_duration(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    assert calendar.measure(start, calendar.add(start, duration)) == duration


@PROPERTY
@given(calendars(), instants, durations)
def test_a_deadline_never_falls_outside_business_hours(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    deadline = calendar.add(start, duration)
    assert deadline > start
    assert calendar.is_open(deadline)
    assert not calendar.is_closed(deadline.astimezone(calendar.zone).date()) or _ends_at_midnight(
        calendar, deadline
    )


def _ends_at_midnight(calendar: BusinessCalendar, deadline: datetime) -> bool:
    # A span closing at 24:00 ends on the next day's local midnight, which may be a closed day.
    local_time = deadline.astimezone(calendar.zone)
    return (local_time.hour, local_time.minute, local_time.second, local_time.microsecond) == (0, 0, 0, 0)


@PROPERTY
@given(calendars(), instants, durations, durations)
def test_more_business_time_never_ends_earlier(
    calendar: BusinessCalendar, start: datetime, one: timedelta, other: timedelta
) -> None:
    shorter, longer = sorted((one, other))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@PROPERTY
@given(calendars(), instants, instants, instants)
def test_measuring_is_monotone_and_additive(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    first, middle, last = sorted((a, b, c))
    assert calendar.measure(first, middle) <= calendar.measure(first, last)
    assert calendar.measure(first, last) == calendar.measure(first, middle) + calendar.measure(middle, last)
    assert calendar.measure(first, last) <= last - first


@PROPERTY
@given(instants, durations)
def test_holidays_and_weekends_never_count(start: datetime, duration: timedelta) -> None:
    end = POLAND.add(start, duration)
    day = start.astimezone(WARSAW).date()
    while day <= end.astimezone(WARSAW).date():
        if day.weekday() >= 5 or POLAND.is_closed(day):
            opens = datetime.combine(day, datetime.min.time(), tzinfo=WARSAW)
            assert POLAND.measure(opens, opens + timedelta(days=1)) == timedelta(0)
        day += timedelta(days=1)
