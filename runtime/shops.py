"""The shops CareLoop serves, and their API keys (stored only as SHA-256 hashes).

Loaded from a JSON file (`CARELOOP_SHOPS_FILE`): every service reads the same registry, so one key
works across the intake, notify and survey APIs and a key only ever sees its own shop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

API_KEY_PREFIX = "clk_"


class Shop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    api_key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    timezone: str = "Europe/Warsaw"
    locale: str = "pl"
    public_base_url: str | None = None
    """Where the shop's customers reach CareLoop's public pages (survey links)."""
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    """The shop's own site: the survey pages link back to it (no link without it)."""


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ShopRegistry:
    def __init__(self, shops: list[Shop]) -> None:
        self._by_id = {s.id: s for s in shops}

    @classmethod
    def from_file(cls, path: Path) -> ShopRegistry:
        document = json.loads(path.read_text())
        return cls([Shop.model_validate(entry) for entry in document["shops"]])

    def get(self, shop_id: str) -> Shop | None:
        return self._by_id.get(shop_id)

    def __contains__(self, shop_id: object) -> bool:
        return shop_id in self._by_id

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def authenticate(self, api_key: str) -> Shop | None:
        """The shop owning `api_key`, compared in constant time against every stored hash."""
        digest = hash_api_key(api_key)
        found = None
        for shop in self._by_id.values():
            if hmac.compare_digest(shop.api_key_sha256, digest):
                found = shop
        return found
