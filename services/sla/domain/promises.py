"""Order promises: the instant by which the shop must have shipped, delivered or repaired."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from schemas.v1.sla import PromiseKind
from services.sla.domain.calendar import BusinessCalendar


class PromiseStatus(StrEnum):
    RUNNING = "running"
    KEPT = "kept"
    BREACHED = "breached"
    CANCELLED = "cancelled"


def promise_id(order_id: str, kind: PromiseKind, repair_id: str | None = None) -> str:
    return f"{order_id}:{kind.value}" + (f":{repair_id}" if repair_id else "")


def ship_by_deadline(
    paid_at: datetime, ship_by: datetime | None, calendar: BusinessCalendar, default_business_hours: int
) -> datetime:
    """The shop's own ship-by promise, or a default of N business hours after payment."""
    if ship_by is not None:
        return ship_by
    return calendar.add(paid_at, timedelta(hours=default_business_hours))


def end_of_local_day(day: date, timezone: str) -> datetime:
    """Midnight after `day` in the shop's zone, in UTC: a date promise holds all day long."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def repair_deadline(received_at: datetime, turnaround_days: int, timezone: str) -> datetime:
    """A repair declared as N days is due by the end of the N-th local day after it was received."""
    received_day = received_at.astimezone(ZoneInfo(timezone)).date()
    return end_of_local_day(received_day + timedelta(days=turnaround_days), timezone)


def settled_status(settled_at: datetime, promised_at: datetime) -> PromiseStatus:
    """Kept if fulfilled by the promised instant, else breached (the sweep may not have seen it yet)."""
    return PromiseStatus.KEPT if settled_at <= promised_at else PromiseStatus.BREACHED
