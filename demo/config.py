"""What the demo shop does and where it finds the services (environment variables, DEMO_ prefix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_KEY = "clk_demo_shop_local_key_do_not_use_in_production"  # published: deploy/local/shops.json
DEMO_SHOPIFY_SECRET = "shpss_demo_shop_local_secret_do_not_use_in_production"  # noqa: S105 (local, published)


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", frozen=True)

    shop_id: str = "demo-shop"
    api_key: SecretStr = SecretStr(DEMO_KEY)
    locale: str = "pl"
    platform: Literal["cloudevents", "shopify"] = "cloudevents"
    """How the shop's order journeys reach CareLoop: CloudEvents onto orders.events, or (`shopify`) as a
    Shopify store's signed webhooks to intake's Shopify adapter (demo/shopify.py)."""
    shopify_secret: SecretStr = SecretStr(DEMO_SHOPIFY_SECRET)
    """What the demo's Shopify store signs with; registered at intake when the demo starts."""
    seed: int = 7
    """Same seed, same shop: orders, contacts, agents and customers are all drawn from it."""
    orders_per_day: int = Field(default=80, ge=1, le=5000)
    history_days: float = Field(default=0.0, ge=0, le=30)
    """Journeys begun this long before the start, so deliveries, returns and surveys show at once. Off by
    default: a replayed history reaches the services in one burst, and the SLA timers judge its
    promises before the later steps are consumed (many false promise breaches)."""
    receiver_host: str = "127.0.0.1"
    receiver_port: int = Field(default=8009, ge=0, le=65535)
    """0 picks a free port (tests)."""
    receiver_failure_ratio: float = Field(default=0.05, ge=0, le=1)
    """Share of webhook requests answered with 500, to show notify's retries."""
    agent_poll_seconds: float = Field(default=0.5, gt=0)
    summary_seconds: float = Field(default=3.0, gt=0)
    summary_clear_screen: bool = False
    """Redraw the summary in place (set by `make run` when the terminal is a TTY); else append it."""
    keep_data: bool = False
    """Keep the demo shop's tickets, surveys and endpoints of earlier runs (demo/slate.py deletes them
    before the services start otherwise)."""
    grafana_url: str | None = None
    """A Grafana showing the demo's Prometheus, linked by the summary when it answers."""
    prometheus_url: str = "not started"
    """The demo's Prometheus, or why there is none (set by demo/run.py)."""
