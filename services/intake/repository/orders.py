"""What intake keeps of each order from `orders.events`: status, customer, promise, shipment, the last
delay and the contents, each fact with the time it was told (domain/orders.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from runtime.db import Connection

from ..domain.orders import Contents, OrderContext, OrderItem, OrderStatus, Shipment

OrderKey = tuple[str, str]
"""(shop id, order id): an order's identity in intake's tables."""

ORDER_COLUMNS = (
    "status, status_at, customer_id, customer_email, customer_locale, promised_delivery_date, "
    "customer_email_at, promise_at, carrier, tracking_number, tracking_url, shipped_at, delay_reason, "
    "delayed_at, total, currency, lines, contents_at, placed_at"
)
"""What `order_context_of` reads."""


def order_columns(alias: str) -> str:
    """ORDER_COLUMNS of the orders table named `alias` in a query joining it."""
    return ", ".join(f"{alias}.{column}" for column in ORDER_COLUMNS.split(", "))


def _shipment(row: asyncpg.Record) -> Shipment | None:
    if row["carrier"] is None:
        return None
    return Shipment(row["carrier"], row["tracking_number"], row["tracking_url"])


def _contents(row: asyncpg.Record) -> Contents | None:
    if row["total"] is None:
        return None
    lines = tuple(
        OrderItem(line["sku"], line["name"], line["quantity"], Decimal(line["unit_price"]))
        for line in row["lines"] or ()
    )
    return Contents(row["total"], row["currency"], lines)


def order_context_of(row: asyncpg.Record) -> OrderContext:
    return OrderContext(
        status=OrderStatus(row["status"]),
        status_at=row["status_at"],
        customer_id=row["customer_id"],
        customer_email=row["customer_email"],
        customer_locale=row["customer_locale"],
        promised_delivery_date=row["promised_delivery_date"],
        customer_email_at=row["customer_email_at"],
        promise_at=row["promise_at"],
        shipment=_shipment(row),
        shipped_at=row["shipped_at"],
        delay_reason=row["delay_reason"],
        delayed_at=row["delayed_at"],
        contents=_contents(row),
        contents_at=row["contents_at"],
        placed_at=row["placed_at"],
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


async def open_orders_of(
    conn: Connection, shop_id: str, email: str, limit: int = 2
) -> list[tuple[str, OrderContext]]:
    """The customer's orders still on their way (by e-mail), at most `limit`: enough to tell whether
    they have exactly one."""
    rows = await conn.fetch(
        f"""SELECT order_id, {ORDER_COLUMNS} FROM orders
           WHERE shop_id = $1 AND lower(customer_email) = lower($2)
             AND status IN ('created', 'paid', 'shipped', 'out_for_delivery', 'delayed')
           ORDER BY status_at DESC LIMIT $3""",  # noqa: S608
        shop_id,
        email,
        limit,
    )
    return [(r["order_id"], order_context_of(r)) for r in rows]


def _lines(contents: Contents | None) -> str | None:
    if contents is None:
        return None
    return json.dumps(
        [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": str(i.unit_price)}
            for i in contents.lines
        ]
    )


def _columns(contexts: Sequence[tuple[OrderKey, OrderContext]]) -> list[list[Any]]:
    """Column arrays of the orders, in INSERT order."""
    return [
        [shop_id for (shop_id, _), _ in contexts],
        [order_id for (_, order_id), _ in contexts],
        [o.status.value for _, o in contexts],
        [o.status_at for _, o in contexts],
        [o.customer_id for _, o in contexts],
        [o.customer_email for _, o in contexts],
        [o.customer_locale for _, o in contexts],
        [o.promised_delivery_date for _, o in contexts],
        [o.customer_email_at for _, o in contexts],
        [o.promise_at for _, o in contexts],
        [o.shipment.carrier if o.shipment else None for _, o in contexts],
        [o.shipment.tracking_number if o.shipment else None for _, o in contexts],
        [o.shipment.tracking_url if o.shipment else None for _, o in contexts],
        [o.shipped_at for _, o in contexts],
        [o.delay_reason for _, o in contexts],
        [o.delayed_at for _, o in contexts],
        [o.contents.total if o.contents else None for _, o in contexts],
        [o.contents.currency if o.contents else None for _, o in contexts],
        [_lines(o.contents) for _, o in contexts],
        [o.contents_at for _, o in contexts],
        [o.placed_at for _, o in contexts],
    ]


async def save_order_contexts(conn: Connection, contexts: Sequence[tuple[OrderKey, OrderContext]]) -> None:
    """Upsert many orders in one statement. Each key at most once: one INSERT ... ON CONFLICT cannot
    update the same row twice."""
    if not contexts:
        return
    columns = ["shop_id", "order_id", *ORDER_COLUMNS.split(", ")]
    updated = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
    # lines go as JSON text: a list inside an array parameter would read as one more dimension
    selected = ", ".join("u.lines::jsonb" if c == "lines" else f"u.{c}" for c in columns)
    await conn.execute(
        f"""INSERT INTO orders ({", ".join(columns)})
           SELECT {selected}
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                       $7::text[], $8::date[], $9::timestamptz[], $10::timestamptz[], $11::text[],
                       $12::text[], $13::text[], $14::timestamptz[], $15::text[], $16::timestamptz[],
                       $17::numeric[], $18::text[], $19::text[], $20::timestamptz[], $21::timestamptz[])
                AS u ({", ".join(columns)})
           ON CONFLICT (shop_id, order_id) DO UPDATE SET {updated}""",  # noqa: S608
        *_columns(contexts),
    )


async def order_of(conn: Connection, shop_id: str, order_id: str) -> OrderContext | None:
    row = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND order_id = $2",  # noqa: S608
        shop_id,
        order_id,
    )
    return order_context_of(row) if row is not None else None
