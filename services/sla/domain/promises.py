"""Order promises: the instant by which the shop must have shipped, delivered or repaired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from schemas.v1.sla import PromiseKind
from services.sla.domain.calendar import BusinessCalendar


class PromiseStatus(StrEnum):
    RUNNING = "running"
    KEPT = "kept"
    BREACHED = "breached"
    CANCELLED = "cancelled"


def promise_id(shop_id: str, order_id: str, kind: PromiseKind, repair_id: str | None = None) -> str:
    """A promise is one shop's: order numbers are per shop ("1001" at two shops is two orders), so the
    shop leads the id. Shop ids cannot hold a colon (runtime.shops.Shop), so no two shops' ids meet.
    migrations/002_promises_per_shop.sql builds the same string in SQL: change both or neither."""
    return f"{shop_id}:{order_id}:{kind.value}" + (f":{repair_id}" if repair_id else "")


@dataclass(frozen=True)
class PromiseRecord:
    id: str
    shop_id: str
    order_id: str
    kind: PromiseKind
    customer: dict[str, Any]
    promised_at: datetime
    status: PromiseStatus
    repair_id: str | None = None


@dataclass(frozen=True)
class StoredPromise:
    """A promise row whole, as the batch path reads it, folds it in memory and writes it back."""

    promise: PromiseRecord
    settled_at: datetime | None = None
    breached_at: datetime | None = None


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
