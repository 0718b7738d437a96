"""Business-hours arithmetic: "start + N business seconds" and "business time between two instants".

A calendar is weekly opening hours in local wall time, a time zone and closed dates. Local hours are
turned into UTC spans one local day at a time, so DST days are simply shorter or longer: a wall time
that does not exist (the spring-forward gap) resolves to the instant the clocks jumped, an ambiguous
one (the autumn repeat) to its first occurrence. All durations are timedeltas (whole microseconds), so
adding and then measuring gives back exactly what was added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays

MINUTES_PER_DAY = 24 * 60
SEARCH_LIMIT_DAYS = 3 * 366
"""A calendar with no opening at all within this many days is treated as an error, not a hang."""

OpeningHours = tuple[tuple[int, int], ...]
"""One weekday's opening spans as (start, end) minutes after local midnight; end may be 1440."""


class NoBusinessHours(ValueError):
    pass


class Ruler(Protocol):
    """How a target's time is counted: wall-clock time or business hours."""

    def add(self, start: datetime, duration: timedelta) -> datetime: ...

    def measure(self, start: datetime, end: datetime) -> timedelta: ...


class CalendarTime:
    """Targets counted in plain elapsed time, nights and weekends included."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def measure(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))


CALENDAR_TIME = CalendarTime()


@cache
def _country_holidays(country: str) -> Callable[[date], bool]:
    table = holidays.country_holidays(country)
    return lambda day: day in table


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str
    weekly: tuple[OpeningHours, ...]
    """Seven entries, Monday first."""
    holiday_country: str | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly hours need seven days, Monday first")
        for day in self.weekly:
            previous_end = 0
            for start, end in day:
                if not (0 <= start < end <= MINUTES_PER_DAY) or start < previous_end:
                    raise ValueError(f"opening hours {day} must be ordered, non-overlapping spans of one day")
                previous_end = end
        if not any(self.weekly):
            raise NoBusinessHours("a calendar needs at least one opening span in the week")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_closed(self, day: date) -> bool:
        if day in self.closed_dates:
            return True
        return self.holiday_country is not None and _country_holidays(self.holiday_country)(day)

    def spans_of(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's opening spans as UTC instants (empty on holidays and closed days)."""
        if self.is_closed(day):
            return []
        zone = self.zone
        spans = []
        for start, end in self.weekly[day.weekday()]:
            opens, closes = _resolve(day, start, zone), _resolve(day, end, zone)
            if closes > opens:
                spans.append((opens, closes))
        return spans

    def spans_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening spans ending after `instant`, the first one clipped to start no earlier than it."""
        day = instant.astimezone(self.zone).date() - timedelta(days=1)
        empty_days = 0
        while empty_days < SEARCH_LIMIT_DAYS:
            spans = self.spans_of(day)
            empty_days = 0 if spans else empty_days + 1
            for opens, closes in spans:
                if closes > instant:
                    yield max(opens, instant), closes
            day += timedelta(days=1)
        raise NoBusinessHours(f"no business hours within {SEARCH_LIMIT_DAYS} days of {instant.isoformat()}")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of business time has passed since `start`. A positive
        duration always ends inside an opening span (possibly exactly at its closing time)."""
        if duration <= timedelta(0):
            return start
        remaining = duration
        for opens, closes in self.spans_from(start):
            available = closes - opens
            if remaining <= available:
                return opens + remaining
            remaining -= available
        raise AssertionError("unreachable: spans_from raises when it runs out")

    def measure(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        if end <= start:
            return total
        for opens, closes in self.spans_from(start):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total

    def is_open(self, instant: datetime) -> bool:
        """Inside an opening span; the closing instant itself counts (a deadline may fall on it)."""
        day = instant.astimezone(self.zone).date()
        for candidate in (day - timedelta(days=1), day, day + timedelta(days=1)):
            if any(opens < instant <= closes for opens, closes in self.spans_of(candidate)):
                return True
        return False


def _resolve(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `minute` on `day`; gap times resolve to the jump itself."""
    day += timedelta(days=minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Nonexistent wall time: the jump lies between the two readings of it; find the first instant
    # whose wall time is at or after `wall` (transitions fall on whole seconds).
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(low, UTC)


def office_hours(start: int = 9 * 60, end: int = 17 * 60) -> tuple[OpeningHours, ...]:
    """Monday to Friday, one span a day."""
    workday: OpeningHours = ((start, end),)
    return (workday,) * 5 + ((), ())


DEFAULT_COUNTRY_BY_ZONE = {
    "Europe/Warsaw": "PL",
    "Europe/London": "GB",
    "Europe/Berlin": "DE",
    "Europe/Prague": "CZ",
}
