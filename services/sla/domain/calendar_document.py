"""The calendar as GET/PUT /v1/sla/calendar exchange it, and its conversion to a BusinessCalendar."""

from __future__ import annotations

import itertools
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.sla.domain.calendar import DEFAULT_COUNTRY_BY_ZONE, BusinessCalendar, OpeningHours

HHMM = r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEK = list(Weekday)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class OpeningSpan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(pattern=HHMM, examples=["09:00"])
    end: str = Field(pattern=HHMM, examples=["17:00"], description="24:00 = until midnight")

    @model_validator(mode="after")
    def _ordered(self) -> OpeningSpan:
        if _minutes(self.start) >= _minutes(self.end):
            raise ValueError(f"opening span {self.start}-{self.end} must end after it starts")
        return self


class CalendarDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(examples=["Europe/Warsaw"])
    weekly_hours: dict[Weekday, list[OpeningSpan]] = Field(
        description="opening spans per weekday, local wall time; a missing day is closed"
    )
    holiday_country: str | None = Field(
        default=None, description="ISO 3166 code whose public holidays are closed days (e.g. PL)"
    )
    closed_dates: list[date] = Field(default_factory=list, max_length=1000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"no public-holiday table for country {value!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> CalendarDocument:
        for day, spans in self.weekly_hours.items():
            bounds = sorted((_minutes(s.start), _minutes(s.end)) for s in spans)
            if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(bounds)):
                raise ValueError(f"opening spans of {day.value} overlap")
        if not any(self.weekly_hours.values()):
            raise ValueError("the calendar needs at least one opening span in the week")
        return self

    def to_calendar(self) -> BusinessCalendar:
        weekly: list[OpeningHours] = []
        for day in WEEK:
            spans = self.weekly_hours.get(day, [])
            weekly.append(tuple(sorted((_minutes(s.start), _minutes(s.end)) for s in spans)))
        return BusinessCalendar(
            self.timezone, tuple(weekly), self.holiday_country, frozenset(self.closed_dates)
        )

    @classmethod
    def of(cls, calendar: BusinessCalendar) -> CalendarDocument:
        return cls(
            timezone=calendar.timezone,
            weekly_hours={
                day: [OpeningSpan(start=_hhmm(s), end=_hhmm(e)) for s, e in calendar.weekly[i]]
                for i, day in enumerate(WEEK)
                if calendar.weekly[i]
            },
            holiday_country=calendar.holiday_country,
            closed_dates=sorted(calendar.closed_dates),
        )


def default_calendar_document(timezone: str) -> CalendarDocument:
    """Mon-Fri 9-17 in the shop's zone, with that country's public holidays (Poland for Warsaw)."""
    spans = [OpeningSpan(start="09:00", end="17:00")]
    return CalendarDocument(
        timezone=timezone,
        weekly_hours=dict.fromkeys(WEEK[:5], spans),
        holiday_country=DEFAULT_COUNTRY_BY_ZONE.get(timezone),
    )
