"""Notify-specific settings (environment variables with the NOTIFY_ prefix)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.outcome import OutcomePolicy
from services.notify.domain.retry import SVIX_SCHEDULE_SECONDS
from services.notify.domain.ssrf import EgressPolicy

DAY_SECONDS = 24 * 60 * 60


class NotifyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore", frozen=True)

    retry_schedule_seconds: tuple[float, ...] = Field(default=SVIX_SCHEDULE_SECONDS, min_length=1)
    """Delay before each attempt (the first is normally 0); JSON list, e.g. '[0, 5, 300]'."""
    retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    """Each delay is spread by ±this fraction so a recovering endpoint is not hit by a thundering herd."""
    timeout_seconds: float = Field(default=15.0, gt=0)
    """Whole-attempt limit: connect, send, wait and read the (capped) response."""
    lease_margin_seconds: float = Field(default=5.0, ge=0)
    """A claimed delivery whose worker vanished is reclaimed after timeout + this margin (wall time)."""
    response_cap_bytes: int = Field(default=4096, ge=0, le=1024 * 1024)
    """At most this much of a receiver's response body is read and stored."""
    allow_loopback: bool = False
    """Permit 127.0.0.0/8 and ::1 receivers (the demo and the tests; never in production)."""
    allowed_private_hosts: str = ""
    """Comma-separated host names and CIDR networks that may resolve to non-public addresses."""
    disable_after_seconds: float = Field(default=5 * DAY_SECONDS, gt=0)
    """An endpoint failing continuously (no success in between) this long is disabled."""
    max_in_flight_per_endpoint: int = Field(default=4, ge=1)
    max_in_flight_total: int = Field(default=64, ge=1)
    default_rate_limit_per_second: float | None = Field(default=None, gt=0)
    """Applied to endpoints created without their own rate limit; None = unlimited."""
    breaker_threshold: int = Field(default=5, ge=1)
    """Consecutive failed attempts that open an endpoint's circuit breaker."""
    breaker_cooldown_seconds: float = Field(default=30.0, ge=0)
    poll_seconds: float = Field(default=0.2, gt=0)
    """How often due deliveries are looked for when nothing woke the worker (wall time)."""
    claim_batch: int = Field(default=100, ge=1)
    claim_coalesce_seconds: float = Field(default=0.0, ge=0)
    """After being woken, wait this long before claiming. 0: deliveries are queued a consumed batch at
    a time and a claim round takes what came meanwhile, so a wait only delays every delivery (and at
    1,000 webhooks/s to one endpoint it kept slots idle: p99 2-3x higher with 5 ms)."""
    gauge_seconds: float = Field(default=5.0, gt=0)
    """How often queue depth / oldest pending / DLQ size gauges are refreshed."""
    retention_days: float = Field(default=30.0, gt=0)
    """Finished deliveries (succeeded or dead-lettered) and their attempts are kept this long."""
    purge_seconds: float = Field(default=3600.0, gt=0)
    """How often deliveries past their retention are purged."""
    delivery_body_retention_days: int | None = Field(default=None, ge=1)
    """The bodies of finished deliveries and reply e-mails are replaced this many days after they
    finished (the rows stay; a replay sends the stub), for a shop without its own setting
    (PUT /v1/privacy/retention); None keeps them as long as the rows (retention_days)."""
    retention_batch: int = Field(default=1000, ge=1)
    """Bodies one transaction of that purge replaces at most."""
    default_rotation_overlap_seconds: int = Field(default=DAY_SECONDS, ge=0)
    """How long the previous secret keeps signing after a rotation, unless the request says otherwise."""
    email_timeout_seconds: float = Field(default=60.0, gt=0)
    """Whole-send limit for one reply e-mail: resolve, connect, STARTTLS, log in, send."""
    email_max_in_flight: int = Field(default=8, ge=1)
    """Reply e-mails being sent at once by this process."""
    smtp_helo_name: str | None = Field(default=None, max_length=253)
    """The name notify gives itself in EHLO; the machine's fully qualified name when unset."""

    def outcome_policy(self) -> OutcomePolicy:
        return OutcomePolicy(
            self.retry_schedule_seconds,
            self.retry_jitter,
            BreakerPolicy(self.breaker_threshold, timedelta(seconds=self.breaker_cooldown_seconds)),
            timedelta(seconds=self.disable_after_seconds),
        )

    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_allowlist(self.allow_loopback, self.allowed_private_hosts.split(","))
