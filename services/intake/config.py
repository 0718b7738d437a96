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
    platform_delivery_days: int = Field(default=3, ge=1, le=60)
    """A shipment's delivery promise when its platform gives no estimate: days after it shipped."""
    platform_deliveries_kept_days: float = Field(default=30.0, gt=0)
    """How long a platform delivery's id is kept to recognise a retry (domain time): the platforms
    retry for hours, not days."""
    platform_sweep_seconds: float = Field(default=3600.0, gt=0)
    """How often the delivery ids older than that are forgotten (wall time)."""
    email_domain: str = Field(
        default="careloop.invalid", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9.-]+$"
    )
    """The domain of the Message-IDs of CareLoop's e-mail replies (a domain the operator owns): an
    inbound mail whose Message-ID is in it is one of ours come back, a loop, and is left out."""
    inbound_email_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """The largest raw e-mail `POST /v1/inbound/email` takes (attachments included: they are read
    for their metadata only)."""

    audit_retention_days: float = Field(default=400.0, gt=0)
    """How long the audit log keeps a record (wall time): its own retention, not the shops' data's."""
    audit_sweep_seconds: float = Field(default=3600.0, gt=0)
    """How often the records older than that are deleted (wall time)."""
    audit_purge_batch: int = Field(default=5000, ge=1)
    """Records one transaction of the retention sweep deletes at most (it goes on until none is left)."""
    message_body_retention_days: int | None = Field(default=None, ge=1)
    """Message texts are purged (replaced by '[purged]', the rows stay) this many days after they were
    written, for a shop without its own setting (PUT /v1/privacy/retention); None keeps them."""
    retention_sweep_seconds: float = Field(default=3600.0, gt=0)
    """How often message texts past their retention are purged (wall time)."""
    retention_batch: int = Field(default=1000, ge=1)
    """Messages one transaction of the retention sweep purges at most."""
    privacy_export_days: float = Field(default=7.0, gt=0)
    """How long an export's rows are kept after they arrived (domain time), for the shop to fetch."""
    key_use_seconds: float = Field(default=30.0, gt=0)
    """How often the API keys' last uses (kept in memory per request) are stored (wall time)."""

    housekeeping_seconds: float = Field(default=60.0, gt=0)
    """How often the housekeeping sweep runs (wall time): deflected automatic answers solved, pending
    tickets reminded and solved, solved tickets closed, each per the shop's settings."""
    housekeeping_batch: int = Field(default=200, ge=1, le=10_000)
    """How many tickets one transaction of the sweep takes on (it takes batches until none is due)."""

    workspace_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a workspace sign-in lasts (wall time) before the agent signs in again."""

    @property
    def fcr_period(self) -> timedelta:
        return timedelta(days=self.fcr_period_days)

    assignment_sweep_seconds: float = Field(default=15.0, gt=0)
    """How often the unassigned queues of the teams that assign by themselves are handed out (wall
    time): a safety net, the queue is handed out too when someone gets room."""
    assignment_batch: int = Field(default=50, ge=1, le=10_000)
    """Waiting tickets of one team one transaction of that sweep hands out at most."""
