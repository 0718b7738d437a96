"""The shops CareLoop serves, and their API keys (stored only as SHA-256 hashes).

Every service holds the same registry: seeded from a JSON file (`CARELOOP_SHOPS_FILE`, how `make run`
gets its demo shops), then kept current from the `shops.state` topic that intake's operator API
publishes (runtime/shop_state.py), so a new shop, key, revocation or suspension reaches every service
within seconds and without a restart. One key works across the intake, notify, sla and survey APIs and
only ever sees its own shop.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.v1.shops import KEY_ID_PATTERN, SHOP_ID_PATTERN, ShopState, ShopStatus

API_KEY_PREFIX = "clk_"
SEED_KEY_ID = "seed"
"""The id of the key a shop of the JSON file gives as `api_key_sha256`."""


class ShopKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class Shop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=SHOP_ID_PATTERN)
    name: str
    timezone: str = "Europe/Warsaw"
    locale: str = "pl"
    public_base_url: str | None = None
    """Where the shop's customers reach CareLoop's public pages (survey links)."""
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    """The shop's own site: the survey pages link back to it (no link without it)."""
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """ISO 3166-1 alpha-2, for the shop's public holidays."""
    status: ShopStatus = ShopStatus.ACTIVE
    keys: tuple[ShopKey, ...] = ()
    version: int = Field(default=0, ge=0)
    """0 for a shop known only from the file; the shops.state version otherwise (higher wins)."""
    api_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """The JSON file's one key: it is also the shop's key `seed` in `keys`."""

    @model_validator(mode="before")
    @classmethod
    def _seed_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("api_key_sha256") and not data.get("keys"):
            seed = {"key_id": SEED_KEY_ID, "name": "seed", "sha256": data["api_key_sha256"]}
            data = {**data, "keys": [seed]}
        return data

    @property
    def suspended(self) -> bool:
        return self.status is ShopStatus.SUSPENDED

    def valid_keys(self) -> list[ShopKey]:
        """The keys that authenticate: every key not revoked (several at once during a rotation)."""
        return [key for key in self.keys if key.revoked_at is None]

    @classmethod
    def from_state(cls, state: ShopState) -> Shop:
        return cls(
            id=state.shop_id,
            name=state.name,
            timezone=state.timezone,
            locale=state.locale,
            country=state.country,
            status=state.status,
            url=state.url,
            public_base_url=state.public_base_url,
            keys=tuple(ShopKey.model_validate(k.model_dump()) for k in state.keys),
            version=state.version,
        )


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class Authenticated(NamedTuple):
    shop: Shop
    key_id: str


def newer(current: Shop | None, incoming: Shop) -> bool:
    """Whether `incoming` replaces `current`: the first of a shop, or a higher version (a record read
    twice or out of order never takes a shop back)."""
    return current is None or incoming.version > current.version


class ShopRegistry:
    """The shops by id and their valid keys by hash. Changed only through `put`, by the service's one
    event loop (the shops.state follower, intake's operator API), read by every request."""

    def __init__(self, shops: list[Shop]) -> None:
        self._by_id: dict[str, Shop] = {}
        self._by_digest: dict[str, tuple[str, str]] = {}
        self._uses: dict[tuple[str, str], float] = {}
        for shop in shops:
            self.put(shop)

    @classmethod
    def from_file(cls, path: Path) -> ShopRegistry:
        document = json.loads(path.read_text())
        return cls([Shop.model_validate(entry) for entry in document["shops"]])

    def put(self, shop: Shop) -> bool:
        """Take `shop` if it is newer than what the registry holds; True if it did."""
        current = self._by_id.get(shop.id)
        if not newer(current, shop):
            return False
        if current is not None:
            for key in current.keys:
                if self._by_digest.get(key.sha256, ("", ""))[0] == shop.id:
                    del self._by_digest[key.sha256]
        self._by_id[shop.id] = shop
        for key in shop.valid_keys():
            self._by_digest[key.sha256] = (shop.id, key.key_id)
        return True

    def get(self, shop_id: str) -> Shop | None:
        return self._by_id.get(shop_id)

    def __contains__(self, shop_id: object) -> bool:
        return shop_id in self._by_id

    def __iter__(self) -> Iterator[Shop]:
        return iter(list(self._by_id.values()))

    def suspended(self) -> frozenset[str]:
        return frozenset(s.id for s in self._by_id.values() if s.suspended)

    def authenticate(self, api_key: str) -> Authenticated | None:
        """The shop owning `api_key` and which of its keys it is. Looked up by the key's SHA-256: the
        time a lookup takes depends on that digest, which tells nothing about any stored one's key."""
        found = self._by_digest.get(hash_api_key(api_key))
        if found is None:
            return None
        shop_id, key_id = found
        self._uses[found] = time.time()
        return Authenticated(self._by_id[shop_id], key_id)

    def take_uses(self) -> dict[tuple[str, str], float]:
        """(shop, key) -> when it last authenticated (epoch seconds), since the last call: kept in
        memory, so a request costs no write; intake's sweep stores its own (docs/operations.md)."""
        uses, self._uses = self._uses, {}
        return uses
