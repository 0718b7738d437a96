"""Every setting CareLoop reads, in one place (environment variables, prefix-free names)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    service_name: str = Field(default="careloop", validation_alias="CARELOOP_SERVICE")
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:15432/postgres")
    """Administrative connection; services log in as their own role derived from it."""

    db_role_password: SecretStr = Field(
        default=SecretStr("careloop-local"), validation_alias="CARELOOP_DB_ROLE_PASSWORD"
    )
    topic_prefix: str = Field(default="", validation_alias="CARELOOP_TOPIC_PREFIX")
    """Prepended to every topic name; tests use it to isolate runs on one broker."""
    schema_prefix: str = Field(default="", validation_alias="CARELOOP_SCHEMA_PREFIX")
    """Prepended to every service's Postgres schema and role name, for the same reason."""

    http_host: str = Field(default="127.0.0.1", validation_alias="CARELOOP_HTTP_HOST")
    http_port: int | None = Field(default=None, validation_alias="CARELOOP_HTTP_PORT")
    log_level: str = Field(default="INFO", validation_alias="CARELOOP_LOG_LEVEL")
    log_format: str = Field(default="text", validation_alias="CARELOOP_LOG_FORMAT")

    consumer_max_records: int = Field(default=2000, gt=0, validation_alias="CARELOOP_CONSUMER_MAX_RECORDS")
    """Records per Kafka batch at most. A batch costs a few round trips whatever its size: survey's
    ingest went 13,951 → 18,014 ev/s from 500 to 2,000 (20,344 at 5,000), intake 6,415 → 7,633."""
    consumer_wait_ms: int = Field(default=25, gt=0, validation_alias="CARELOOP_CONSUMER_WAIT_MS")
    """How long a batch subscriber waits for records; FastStream sleeps as long again after an empty
    wait, so the first event after a quiet spell can wait up to twice this."""
    handler_attempts: int = Field(default=3, validation_alias="CARELOOP_HANDLER_ATTEMPTS")
    """How often a handler that raises is retried on one event before the event is dead-lettered."""
    outbox_batch_size: int = Field(default=500, validation_alias="CARELOOP_OUTBOX_BATCH")
    outbox_poll_seconds: float = Field(default=0.5, validation_alias="CARELOOP_OUTBOX_POLL_SECONDS")
    outbox_gauge_seconds: float = Field(default=5.0, gt=0, validation_alias="CARELOOP_OUTBOX_GAUGE_SECONDS")
    """How often the outbox backlog and oldest-age gauges are read from the table."""
    shops_file: Path = Field(default=Path("deploy/local/shops.json"), validation_alias="CARELOOP_SHOPS_FILE")
    """The shop registry (ids, hashed API keys, time zones); see runtime/shops.py."""
    admin_token: SecretStr | None = Field(default=None, validation_alias="CARELOOP_ADMIN_TOKEN")
    """The operator's credential for intake's `/v1/admin/*` routes and the whole audit log (compared
    in constant time); unset, the operator API refuses every request."""
    held_release_seconds: float = Field(default=5.0, gt=0, validation_alias="CARELOOP_HELD_RELEASE_SECONDS")
    """How often held events of resumed shops are looked for (runtime/holds.py); a resume seen on
    shops.state releases them at once, this catches what a stopped process or a failure left."""
    metrics_shop_label_limit: int = Field(
        default=1000, ge=0, validation_alias="CARELOOP_METRICS_SHOP_LABEL_LIMIT"
    )
    """The cardinality budget of the `shop` label on the KPI series: this many shops (the registry's
    first) keep their own series, the rest are counted under "(other)"; 0 drops the per-shop split
    (runtime.metrics.ShopLabels, docs/operations.md)."""
    public_base_url: str = Field(default="http://127.0.0.1:8004", validation_alias="CARELOOP_PUBLIC_BASE_URL")
    """Where customers reach public pages (the survey answer page)."""
    time_factor: float = Field(default=1.0, gt=0, validation_alias="CARELOOP_TIME_FACTOR")
    """>1 runs domain time faster than wall time (the demo's accelerated week)."""
    time_origin: datetime | None = Field(default=None, validation_alias="CARELOOP_TIME_ORIGIN")
    """The shared instant from which accelerated time is counted; every process must get the same."""
    db_pool_size: int = Field(default=10, validation_alias="CARELOOP_DB_POOL_SIZE")

    @property
    def db_schema(self) -> str:
        return f"{self.schema_prefix}{self.service_name}"

    @property
    def db_role(self) -> str:
        return f"careloop_{self.db_schema}"

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}careloop-{self.service_name}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def service_dsn(self) -> str:
        """The admin URL with the service's own role as user: it can touch only its schema."""
        parts = urlsplit(self.database_url.get_secret_value())
        host = parts.hostname or "127.0.0.1"
        netloc = f"{quote(self.db_role)}:{quote(self.db_role_password.get_secret_value())}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def for_service(self, name: str) -> Settings:
        return self.model_copy(update={"service_name": name})
