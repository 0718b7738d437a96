"""Survey-specific settings (environment variables with the SURVEY_ prefix)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.survey.domain.kinds import SurveyKind

DAY_SECONDS = 24 * 60 * 60


class SurveyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SURVEY_", extra="ignore", frozen=True)

    nps_delay_days: float = Field(default=7.0, ge=0)
    """How long after delivery the NPS invitation goes out."""
    nps_delay_days_by_shop: dict[str, float] = Field(default_factory=dict)
    """Per-shop override, e.g. SURVEY_NPS_DELAY_DAYS_BY_SHOP='{"demo-shop": 3}'."""
    csat_delay_days: float = Field(default=0.0, ge=0)
    ces_delay_days: float = Field(default=0.0, ge=0)

    nps_window_days: float = Field(default=90.0, ge=0)
    """At most one NPS survey per customer per this window."""
    csat_window_days: float = Field(default=14.0, ge=0)
    ces_window_days: float = Field(default=30.0, ge=0)

    token_ttl_days: float = Field(default=30.0, gt=0)
    """An answer link expires this long after the invitation was sent."""
    sweep_seconds: float = Field(default=1.0, gt=0)
    """How often due invitations are looked for (wall time)."""
    sweep_batch: int = Field(default=100, ge=1)
    score_gauge_seconds: float = Field(default=60.0, gt=0)
    """How often the per-shop score gauges on /metrics are recomputed."""
    score_gauge_days: float = Field(default=30.0, gt=0)
    """The trailing period the score gauges cover."""
    max_send_attempts: int = Field(default=5, ge=1)
    """An invitation whose sending keeps failing is parked as 'failed' after this many attempts."""

    def delay(self, kind: SurveyKind, shop_id: str) -> timedelta:
        if kind is SurveyKind.NPS:
            days = self.nps_delay_days_by_shop.get(shop_id, self.nps_delay_days)
        elif kind is SurveyKind.CSAT:
            days = self.csat_delay_days
        else:
            days = self.ces_delay_days
        return timedelta(days=days)

    def window(self, kind: SurveyKind) -> timedelta:
        days = {
            SurveyKind.NPS: self.nps_window_days,
            SurveyKind.CSAT: self.csat_window_days,
            SurveyKind.CES: self.ces_window_days,
        }[kind]
        return timedelta(days=days)

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(days=self.token_ttl_days)
