"""A shop's macros (canned replies). Every query names the shop."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from runtime.db import Connection

from ..domain.macros import Macro
from ..domain.orders import OrderContext
from .orders import order_context_of


def macro_of(row: asyncpg.Record) -> Macro:
    return Macro(row["shop_id"], row["id"], row["name"], dict(row["texts"]))


async def insert_macro(conn: Connection, macro: Macro, now: datetime) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO macros (shop_id, id, name, texts, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $5) RETURNING *""",
        macro.shop_id,
        macro.id,
        macro.name,
        dict(macro.texts),
        now,
    )
    assert row is not None
    return row


async def find_macro(conn: Connection, shop_id: str, macro_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM macros WHERE shop_id = $1 AND id = $2", shop_id, macro_id)


async def list_macros(conn: Connection, shop_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM macros WHERE shop_id = $1 ORDER BY lower(name), id", shop_id)


async def update_macro(
    conn: Connection,
    shop_id: str,
    macro_id: str,
    name: str | None,
    texts: Mapping[str, str] | None,
    now: datetime,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """UPDATE macros SET name = coalesce($3, name), texts = coalesce($4, texts), updated_at = $5
           WHERE shop_id = $1 AND id = $2 RETURNING *""",
        shop_id,
        macro_id,
        name,
        dict(texts) if texts is not None else None,
        now,
    )


async def delete_macro(conn: Connection, shop_id: str, macro_id: str) -> bool:
    found = await conn.fetchval(
        "DELETE FROM macros WHERE shop_id = $1 AND id = $2 RETURNING id", shop_id, macro_id
    )
    return found is not None


async def order_of(conn: Connection, shop_id: str, order_id: str) -> OrderContext | None:
    """The order as intake knows it (not locked: a macro only reads it)."""
    row = await conn.fetchrow("SELECT * FROM orders WHERE shop_id = $1 AND order_id = $2", shop_id, order_id)
    return order_context_of(row) if row is not None else None
