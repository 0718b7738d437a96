"""What the survey handlers, sweeps and routes need besides the event and the connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from runtime.consumer import Unprocessable
from runtime.shops import ShopRegistry
from services.survey.config import SurveyConfig

SOURCE = "careloop/survey"
"""The CloudEvents source of every event the survey service publishes."""


@dataclass(frozen=True)
class Context:
    shops: ShopRegistry
    config: SurveyConfig
    topic: str
    """The (prefixed) survey.events topic."""
    public_base_url: str
    """The answer links' base for a shop that has none of its own."""
    now: Callable[[], datetime]
    """Domain time (runtime.clock, read at call time: tests swap in a ManualClock after build)."""

    def known_shop(self, shop_id: str) -> None:
        if shop_id not in self.shops:
            raise Unprocessable(f"unknown shop {shop_id}")

    def shop_locale(self, shop_id: str) -> str | None:
        shop = self.shops.get(shop_id)
        return shop.locale if shop else None

    def answer_link(self, shop_id: str, token: str) -> str:
        shop = self.shops.get(shop_id)
        base = (shop.public_base_url if shop and shop.public_base_url else self.public_base_url).rstrip("/")
        return f"{base}/s/{token}"
