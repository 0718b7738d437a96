"""SLA-specific settings (environment variables with the SLA_ prefix)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlaConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore", frozen=True)

    sweep_seconds: float = Field(default=0.2, gt=0)
    """How often the timer sweep looks for due clocks and promises (wall time)."""
    sweep_batch: int = Field(default=200, ge=1)
    """Timers claimed per transaction: smaller batches commit sooner and let the outbox relay in more
    often, which gave a lower Kafka-lag p99 in bench/sla_timers.py (docs/sla.md, timer engine)."""
    sweep_workers: int = Field(default=2, ge=1)
    """Concurrent clock claimers: SKIP LOCKED hands each its own rows, so one worker's Python work
    (building the events) overlaps another's round trips to Postgres."""
    timer_retry_seconds: float = Field(default=30.0, gt=0)
    """How long a timer that failed to process waits before the sweep tries it again."""
    gauge_seconds: float = Field(default=15.0, gt=0)
    """How often the open-clock and compliance gauges on /metrics are recomputed."""

    @property
    def timer_retry(self) -> timedelta:
        return timedelta(seconds=self.timer_retry_seconds)
