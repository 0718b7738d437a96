"""What intake keeps of each order from `orders.events` (status, customer, promised date)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from runtime.db import Connection

from ..domain.orders import OrderContext, OrderStatus

OrderKey = tuple[str, str]
"""(shop id, order id): an order's identity in intake's tables."""


def order_context_of(row: asyncpg.Record) -> OrderContext:
    return OrderContext(
        status=OrderStatus(row["status"]),
        status_at=row["status_at"],
        customer_id=row["customer_id"],
        customer_email=row["customer_email"],
        customer_locale=row["customer_locale"],
        promised_delivery_date=row["promised_delivery_date"],
    )


async def order_contexts(conn: Connection, keys: Sequence[OrderKey]) -> dict[OrderKey, OrderContext]:
    """The orders of `keys` in one round trip (absent orders are left out), locked in key order so two
    transactions locking overlapping sets cannot deadlock each other."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT * FROM orders
           WHERE (shop_id, order_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY shop_id, order_id FOR UPDATE""",
        [shop_id for shop_id, _ in keys],
        [order_id for _, order_id in keys],
    )
    return {(r["shop_id"], r["order_id"]): order_context_of(r) for r in rows}


async def save_order_contexts(conn: Connection, contexts: Sequence[tuple[OrderKey, OrderContext]]) -> None:
    """Upsert many orders in one statement. Each key at most once: one INSERT ... ON CONFLICT cannot
    update the same row twice."""
    if not contexts:
        return
    await conn.execute(
        """INSERT INTO orders (shop_id, order_id, status, status_at, customer_id, customer_email,
               customer_locale, promised_delivery_date)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                                $6::text[], $7::text[], $8::date[])
           ON CONFLICT (shop_id, order_id) DO UPDATE SET status = excluded.status,
               status_at = excluded.status_at, customer_id = excluded.customer_id,
               customer_email = excluded.customer_email, customer_locale = excluded.customer_locale,
               promised_delivery_date = excluded.promised_delivery_date""",
        [shop_id for (shop_id, _), _ in contexts],
        [order_id for (_, order_id), _ in contexts],
        [o.status.value for _, o in contexts],
        [o.status_at for _, o in contexts],
        [o.customer_id for _, o in contexts],
        [o.customer_email for _, o in contexts],
        [o.customer_locale for _, o in contexts],
        [o.promised_delivery_date for _, o in contexts],
    )
