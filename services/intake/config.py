"""Intake-specific settings (environment variables with the INTAKE_ prefix)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    gauge_seconds: float = Field(default=2.0, gt=0)
    """How often the open-ticket and FCR gauges are read from Postgres (wall time)."""
    fcr_period_days: float = Field(default=30.0, gt=0)
    """The FCR gauge covers the tickets solved within this many days (domain time)."""

    @property
    def fcr_period(self) -> timedelta:
        return timedelta(days=self.fcr_period_days)
