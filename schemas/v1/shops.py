"""`shops.state`: each shop's whole current state, keyed by shop id on a compacted topic. Intake (the
operator API, docs/operations.md "Shops and keys") publishes it after every change; every service
folds it into its own table and its in-memory registry (runtime/shop_state.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import EventData

SHOP_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
KEY_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class ShopStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Its keys answer 403 and its events are held until it is resumed (runtime/holds.py)."""


class ShopKeyState(EventData):
    """One API key: only its SHA-256 travels; the key itself is shown once, when it is issued."""

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    """Set once the key is revoked: it authenticates nothing from then on."""


class ShopState(EventData):
    """`shop.state`: the shop as it is now (not a change): a reader needs only the latest record of a
    shop, which is what compaction keeps."""

    shop_id: str = Field(pattern=SHOP_ID_PATTERN)
    version: int = Field(ge=1)
    """Grows with every change of the shop: a reader keeps the highest it has seen."""
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(min_length=1, max_length=64)
    locale: str = Field(min_length=1, max_length=35)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """ISO 3166-1 alpha-2, for the shop's public holidays."""
    status: ShopStatus = ShopStatus.ACTIVE
    url: str | None = Field(default=None, max_length=500)
    public_base_url: str | None = Field(default=None, max_length=500)
    keys: list[ShopKeyState] = Field(default_factory=list, max_length=100)
    changed_at: datetime


SHOP_EVENT_TYPES: dict[str, type[EventData]] = {"shop.state": ShopState}
