"""Time as the domain sees it. Services take a Clock instead of calling datetime.now(), so tests
drive time by hand (ManualClock) and the demo can run a shop's week in minutes (accelerated)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """Domain time runs `factor` times faster than wall time from a shared `origin`, so every
    process given the same origin and factor agrees on the time."""

    def __init__(self, origin: datetime, factor: float) -> None:
        if factor <= 0:
            raise ValueError("time factor must be positive")
        self.origin = origin
        self.factor = factor
        self._origin_epoch = origin.timestamp()

    def now(self) -> datetime:
        elapsed = (time.time() - self._origin_epoch) * self.factor
        return self.origin + timedelta(seconds=elapsed)

    def wall_seconds(self, domain_seconds: float) -> float:
        """How long to sleep in wall time for `domain_seconds` of domain time to pass."""
        return domain_seconds / self.factor


class ManualClock:
    """A clock that moves only when told to: the tests' way to make a week pass."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = instant


def clock_from_settings(time_factor: float, time_origin: datetime | None) -> Clock:
    if time_factor == 1.0:
        return SystemClock()
    return AcceleratedClock(time_origin or datetime.now(UTC), time_factor)
