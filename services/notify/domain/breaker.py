"""A per-endpoint circuit breaker: after `threshold` consecutive failures the endpoint gets no
attempts for `cooldown`; then one trial attempt (half-open) decides whether it closes again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int
    cooldown: timedelta


@dataclass(frozen=True)
class BreakerState:
    failures: int = 0
    open_until: datetime | None = None

    def is_tripped(self, policy: BreakerPolicy) -> bool:
        return self.failures >= policy.threshold


def allowed_in_flight(state: BreakerState, policy: BreakerPolicy, limit: int, now: datetime) -> int:
    """How many attempts may be under way at `now`: none while open, one trial when half-open."""
    if not state.is_tripped(policy):
        return limit
    if state.open_until is not None and now < state.open_until:
        return 0
    return 1


def after_success(state: BreakerState) -> BreakerState:
    return BreakerState()


def after_failure(state: BreakerState, policy: BreakerPolicy, now: datetime) -> BreakerState:
    failures = state.failures + 1
    if failures >= policy.threshold:
        return BreakerState(failures, now + policy.cooldown)
    return BreakerState(failures, None)
