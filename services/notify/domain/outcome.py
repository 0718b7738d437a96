"""What an attempt's outcome does to its delivery and its endpoint: the one place for the rules after an
attempt (succeeded, retry at a time, dead letter; the circuit breaker opened, reset or left; the endpoint
disabled). The worker records what this decides; it decides nothing itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notify.domain.attempts import AttemptOutcome
from services.notify.domain.breaker import BreakerPolicy, BreakerState, after_failure, after_success
from services.notify.domain.retry import next_delay


@dataclass(frozen=True)
class Health:
    """What an endpoint's record says about its recent attempts."""

    breaker: BreakerState = field(default_factory=BreakerState)
    failing_since: datetime | None = None
    """When its current run of failures began; None once an attempt succeeded."""


HEALTHY = Health()


@dataclass(frozen=True)
class Disable:
    """The service disables the endpoint: no more attempts until the shop enables it again."""

    reason: str
    """Shown to the shop (the endpoint's disabled_reason, the webhook.endpoint_disabled event)."""
    kind: str
    """A metric label: `gone` (the receiver answered 410) or `failing` (failing for too long)."""


@dataclass(frozen=True)
class Retry:
    """The delivery is attempted again at `at`, in a later claim round."""

    at: datetime
    health: Health
    disable: Disable | None


@dataclass(frozen=True)
class DeadLetter:
    """The retry schedule is spent: the delivery is dead-lettered after `attempts` attempts."""

    attempts: int
    health: Health
    disable: Disable | None


@dataclass(frozen=True)
class OutcomePolicy:
    retry_schedule: tuple[float, ...]
    """The delay before each attempt of a round (the first normally 0): a round has as many attempts
    as delays, and the failure of its last dead-letters the delivery."""
    retry_jitter: float
    breaker: BreakerPolicy
    disable_after: timedelta
    """An endpoint failing this long without a success in between is disabled."""

    def succeeded(self, health: Health) -> Health:
        """The endpoint's health after a 2xx, whatever it was: breaker closed, no failing period."""
        return Health(after_success(health.breaker), failing_since=None)

    def failed(
        self,
        outcome: AttemptOutcome,
        health: Health,
        enabled: bool,
        round_attempts: int,
        now: datetime,
        unit_random: float,
    ) -> Retry | DeadLetter:
        """After a failed attempt, the `round_attempts + 1`-th of its round, of an endpoint with
        `health` (and `enabled`) as recorded before it; `unit_random` in [0, 1) picks the jitter."""
        if outcome.succeeded:
            raise ValueError("a successful attempt did not fail")
        failing_since = health.failing_since or now
        after = Health(after_failure(health.breaker, self.breaker, now), failing_since)
        disable = self._disable(outcome, failing_since, now) if enabled else None
        attempts = round_attempts + 1
        delay = next_delay(self.retry_schedule, attempts, self.retry_jitter, unit_random)
        if delay is None:
            return DeadLetter(attempts, after, disable)
        return Retry(now + timedelta(seconds=delay), after, disable)

    def _disable(self, outcome: AttemptOutcome, failing_since: datetime, now: datetime) -> Disable | None:
        if outcome is AttemptOutcome.GONE:
            return Disable("the receiver answered 410 Gone", "gone")
        if now - failing_since >= self.disable_after:
            return Disable(f"failing continuously since {failing_since.isoformat()}", "failing")
        return None
