"""When to try a delivery again: a fixed schedule of delays with proportional jitter."""

from __future__ import annotations

from collections.abc import Sequence

SVIX_SCHEDULE_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
"""Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""


def next_delay(
    schedule: Sequence[float], attempts_made: int, jitter: float, unit_random: float
) -> float | None:
    """Seconds to wait before the next attempt after `attempts_made` attempts, or None when the
    schedule is exhausted (dead letter). `unit_random` in [0, 1) picks the spread within ±jitter."""
    if attempts_made < 0:
        raise ValueError("attempts_made must be >= 0")
    if attempts_made >= len(schedule):
        return None
    base = max(0.0, float(schedule[attempts_made]))
    spread = jitter * (2.0 * unit_random - 1.0)
    return base * (1.0 + spread)


def total_attempts(schedule: Sequence[float]) -> int:
    return len(schedule)
