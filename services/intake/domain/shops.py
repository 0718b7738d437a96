"""The operator's shops and keys, decided without I/O: what a shop's published state is, which keys
may still be issued, and what an operator's change is allowed to be."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.v1.shops import ShopKeyState, ShopState, ShopStatus

MAX_VALID_KEYS = 10
"""Keys a shop may hold at once: enough for a rotation across several integrations, few enough to
notice one forgotten."""
EDITABLE = ("name", "timezone", "locale", "country", "url", "public_base_url")
"""What PATCH may change (the id never changes; status by suspend/resume; keys by their routes)."""


class ShopRefused(Exception):
    """An operator's request the shops' rules refuse: `status` and `code` for the answer."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ShopRecord:
    id: str
    version: int
    name: str
    timezone: str
    locale: str
    country: str | None
    status: ShopStatus
    url: str | None
    public_base_url: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    sha256: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


def state_of(shop: ShopRecord, keys: Sequence[KeyRecord]) -> ShopState:
    """The shop's whole state as shops.state carries it (keys as hashes, revoked ones too)."""
    return ShopState(
        shop_id=shop.id,
        version=shop.version,
        name=shop.name,
        timezone=shop.timezone,
        locale=shop.locale,
        country=shop.country,
        status=shop.status,
        url=shop.url,
        public_base_url=shop.public_base_url,
        keys=[
            ShopKeyState(
                key_id=k.key_id,
                name=k.name,
                sha256=k.sha256,
                created_at=k.created_at,
                revoked_at=k.revoked_at,
            )
            for k in sorted(keys, key=lambda k: (k.created_at, k.key_id))
        ],
        changed_at=shop.updated_at,
    )


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ShopRefused(422, "invalid_timezone", f"unknown time zone {timezone!r}") from None


def check_new_key(keys: Sequence[KeyRecord], name: str) -> None:
    """A shop gets another key while it holds fewer than MAX_VALID_KEYS valid ones, each named once."""
    valid = [k for k in keys if k.revoked_at is None]
    if len(valid) >= MAX_VALID_KEYS:
        raise ShopRefused(
            409, "too_many_keys", f"the shop has {len(valid)} valid keys: revoke one before issuing another"
        )
    if any(k.name == name for k in valid):
        raise ShopRefused(409, "key_name_taken", f"the shop already has a valid key named {name!r}")


def key_to_revoke(keys: Sequence[KeyRecord], key_id: str) -> KeyRecord | None:
    """The key to revoke; None when it is already revoked (revoking is idempotent)."""
    for key in keys:
        if key.key_id == key_id:
            return key if key.revoked_at is None else None
    raise ShopRefused(404, "not_found", f"no key {key_id!r} in this shop")


def status_changes(current: ShopStatus, wanted: ShopStatus) -> bool:
    """Whether suspending or resuming changes anything (asking twice is no second change)."""
    return current is not wanted
