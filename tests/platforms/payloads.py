"""The platforms' webhook payloads checked into tests/platforms/fixtures/, built from Shopify's and
WooCommerce's published webhook references (field names, types, status values).

File names say the topic: `orders_create.json` is Shopify's orders/create,
`fulfillments_update.delivered.json` its fulfillments/update with shipment_status delivered,
`order.updated.processing.json` WooCommerce's order.updated of an order in status processing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from services.intake.domain.platforms.deliveries import Delivery, Platform, ShopTerms

FIXTURES = Path(__file__).parent / "fixtures"
TERMS = ShopTerms(locale="pl", timezone="Europe/Warsaw", delivery_days=3)
RECEIVED = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Fixture:
    platform: Platform
    topic: str
    name: str
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.raw)
        return document

    def delivery(
        self, key: str | None = None, at: datetime | None = None, body: dict[str, Any] | None = None
    ) -> Delivery:
        return Delivery(
            self.platform, self.topic, key or self.name, body or self.body, RECEIVED, signalled_at=at
        )


def _topic(platform: Platform, stem: str) -> str:
    if platform is Platform.SHOPIFY:
        return stem.split(".")[0].replace("_", "/")
    return ".".join(stem.split(".")[:2])


@cache
def fixtures(platform: Platform) -> tuple[Fixture, ...]:
    found = sorted((FIXTURES / platform.value).glob("*.json"))
    return tuple(Fixture(platform, _topic(platform, p.stem), p.stem, p.read_bytes()) for p in found)


def fixture(platform: Platform, name: str) -> Fixture:
    (found,) = [f for f in fixtures(platform) if f.name == name]
    return found


ALL = (*fixtures(Platform.SHOPIFY), *fixtures(Platform.WOOCOMMERCE))
