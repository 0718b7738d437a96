"""What the SLA handlers, sweeps and routes need besides the event and the connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from runtime.consumer import Unprocessable
from runtime.shops import Shop, ShopRegistry
from services.sla.config import SlaConfig


@dataclass(frozen=True)
class Context:
    shops: ShopRegistry
    now: Callable[[], datetime]
    """Domain time (the runtime's clock, read at call time: tests swap in a ManualClock after build)."""
    out_topic: str
    """The (prefixed) sla.events topic."""
    config: SlaConfig

    def shop(self, shop_id: str) -> Shop:
        shop = self.shops.get(shop_id)
        if shop is None:
            raise Unprocessable(f"unknown shop {shop_id}")
        return shop
