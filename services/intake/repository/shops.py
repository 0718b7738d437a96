"""The operator API's SQL: the shops and their keys (the authority shops.state is published from)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from schemas.v1.shops import ShopStatus

from ..domain.shops import EDITABLE, KeyRecord, ShopRecord

SHOP_COLUMNS = (
    "id, version, name, timezone, locale, country, status, url, public_base_url, created_at, updated_at"
)
KEY_COLUMNS = "key_id, name, sha256, created_at, revoked_at, last_used_at"


def shop_record(row: asyncpg.Record) -> ShopRecord:
    return ShopRecord(**{**dict(row), "status": ShopStatus(row["status"])})


def key_record(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(**{name: row[name] for name in KEY_COLUMNS.split(", ")})


async def create(conn: Connection, fields: Mapping[str, Any], at: datetime) -> ShopRecord | None:
    """The new shop at version 1; None if its id is taken."""
    row = await conn.fetchrow(
        f"""INSERT INTO shops (id, version, name, timezone, locale, country, url, public_base_url,
                               created_at, updated_at)
            VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $8)
            ON CONFLICT (id) DO NOTHING RETURNING {SHOP_COLUMNS}""",  # noqa: S608 (constant columns)
        fields["id"],
        fields["name"],
        fields["timezone"],
        fields["locale"],
        fields.get("country"),
        fields.get("url"),
        fields.get("public_base_url"),
        at,
    )
    return shop_record(row) if row is not None else None


async def get(conn: Connection, shop_id: str) -> ShopRecord | None:
    row = await conn.fetchrow(f"SELECT {SHOP_COLUMNS} FROM shops WHERE id = $1", shop_id)  # noqa: S608
    return shop_record(row) if row is not None else None


async def for_update(conn: Connection, shop_id: str) -> ShopRecord | None:
    row = await conn.fetchrow(
        f"SELECT {SHOP_COLUMNS} FROM shops WHERE id = $1 FOR UPDATE",  # noqa: S608 (constant columns)
        shop_id,
    )
    return shop_record(row) if row is not None else None


async def change(conn: Connection, shop_id: str, fields: Mapping[str, Any], at: datetime) -> ShopRecord:
    """Set the given editable fields (and/or the status) and move the version on."""
    names = [name for name in (*EDITABLE, "status") if name in fields]
    assignments = "".join(f", {name} = ${i}" for i, name in enumerate(names, start=3))
    row = await conn.fetchrow(
        f"""UPDATE shops SET version = version + 1, updated_at = $2{assignments}
            WHERE id = $1 RETURNING {SHOP_COLUMNS}""",  # noqa: S608 (names from EDITABLE only)
        shop_id,
        at,
        *[fields[name] for name in names],
    )
    assert row is not None, "change() follows for_update()"
    return shop_record(row)


async def keys_of(conn: Connection, shop_id: str) -> list[KeyRecord]:
    rows = await conn.fetch(
        f"SELECT {KEY_COLUMNS} FROM shop_keys WHERE shop_id = $1 ORDER BY created_at, key_id",  # noqa: S608
        shop_id,
    )
    return [key_record(row) for row in rows]


async def add_key(conn: Connection, shop_id: str, key: KeyRecord) -> None:
    await conn.execute(
        """INSERT INTO shop_keys (shop_id, key_id, name, sha256, created_at) VALUES ($1, $2, $3, $4, $5)""",
        shop_id,
        key.key_id,
        key.name,
        key.sha256,
        key.created_at,
    )


async def revoke_key(conn: Connection, shop_id: str, key_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE shop_keys SET revoked_at = $3 WHERE shop_id = $1 AND key_id = $2 AND revoked_at IS NULL",
        shop_id,
        key_id,
        at,
    )


async def all_shops(conn: Connection) -> list[ShopRecord]:
    rows = await conn.fetch(f"SELECT {SHOP_COLUMNS} FROM shops ORDER BY id")  # noqa: S608 (constant columns)
    return [shop_record(row) for row in rows]


async def all_keys(conn: Connection) -> dict[str, list[KeyRecord]]:
    rows = await conn.fetch(
        f"SELECT shop_id, {KEY_COLUMNS} FROM shop_keys ORDER BY shop_id, created_at, key_id"  # noqa: S608
    )
    found: dict[str, list[KeyRecord]] = {}
    for row in rows:
        found.setdefault(row["shop_id"], []).append(key_record(row))
    return found


async def known_ids(conn: Connection, shop_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM shops WHERE id = ANY($1::text[])", list(shop_ids))
    return {row["id"] for row in rows}


async def record_uses(conn: Connection, uses: Sequence[tuple[str, str, datetime]]) -> None:
    """Each (shop, key, instant) as the key's last use, unless a later one is already there."""
    if not uses:
        return
    await conn.execute(
        """UPDATE shop_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(shop_id, key_id, at)
           WHERE k.shop_id = u.shop_id AND k.key_id = u.key_id""",
        [shop for shop, _, _ in uses],
        [key for _, key, _ in uses],
        [at for _, _, at in uses],
    )
