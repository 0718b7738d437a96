"""Privacy requests (docs/privacy.md): whom a request is about (every identity intake links to the
asked one), the requests and the services' parts of them, and the shops' retention settings.
Intake's own rows about a customer are erased and exported in `erasure.py`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection

from ..domain.customers import NoCustomerIdentity, customer_key


@dataclass
class Known:
    """What intake links to a customer: ids, contact details, orders and tickets (sets grow as the
    orders and tickets found name more of them)."""

    customer_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    ticket_ids: set[str] = field(default_factory=set)

    def add(self, target: set[str], value: Any) -> None:
        if isinstance(value, str) and value.strip():
            target.add(value.strip())

    def keys(self) -> list[str]:
        """The tickets' customer keys these identities give (domain/customers.py)."""
        keys = [f"customer:{c}" for c in self.customer_ids]
        for email, phone in [(e, None) for e in self.emails] + [(None, p) for p in self.phones]:
            try:
                keys.append(customer_key(email, phone, None))
            except NoCustomerIdentity:
                continue
        return keys

    def lower_emails(self) -> list[str]:
        return sorted({e.lower() for e in self.emails})


async def known_identities(conn: Connection, shop_id: str, known: Known) -> Known:
    """`known` widened by the shop's orders (from orders.events and the platform webhooks), then by
    its tickets, matched on any identity found so far."""
    orders = await conn.fetch(
        """SELECT order_id, customer_id, customer_email FROM orders
           WHERE shop_id = $1 AND (customer_id = ANY($2::text[]) OR lower(customer_email) = ANY($3::text[]))
           UNION ALL
           SELECT order_id, customer->>'id', customer->>'email' FROM platform_orders
           WHERE shop_id = $1 AND (customer->>'id' = ANY($2::text[])
                                   OR lower(customer->>'email') = ANY($3::text[]))""",
        shop_id,
        sorted(known.customer_ids),
        known.lower_emails(),
    )
    for row in orders:
        known.add(known.order_ids, row["order_id"])
        known.add(known.customer_ids, row["customer_id"])
        known.add(known.emails, row["customer_email"])
    tickets = await conn.fetch(
        """SELECT id, order_id, customer_id, customer_email, customer_phone FROM tickets
           WHERE shop_id = $1 AND (customer_key = ANY($2::text[]) OR customer_id = ANY($3::text[])
                                   OR lower(customer_email) = ANY($4::text[]))""",
        shop_id,
        known.keys(),
        sorted(known.customer_ids),
        known.lower_emails(),
    )
    for row in tickets:
        known.add(known.ticket_ids, row["id"])
        known.add(known.order_ids, row["order_id"])
        known.add(known.customer_ids, row["customer_id"])
        known.add(known.emails, row["customer_email"])
        known.add(known.phones, row["customer_phone"])
    return known


async def orders_of_platform(
    conn: Connection, shop_id: str, platform: str, platform_ids: list[str]
) -> list[str]:
    """The shop's order ids of a platform's own order ids (those the platform's webhooks made known)."""
    rows = await conn.fetch(
        """SELECT order_id FROM platform_orders
           WHERE shop_id = $1 AND platform = $2 AND platform_order_id = ANY($3::text[])
             AND order_id IS NOT NULL""",
        shop_id,
        platform,
        platform_ids,
    )
    return sorted(row["order_id"] for row in rows)


# -- requests and their parts ----------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    id: str
    shop_id: str
    kind: str
    scope: str
    asked_by: str
    source: str
    subject_digests: list[str]
    requested_at: datetime


async def insert_request(conn: Connection, request: NewRequest) -> bool:
    """Record the request; False if its id is known (a platform's webhook delivered again)."""
    created = await conn.fetchval(
        """INSERT INTO privacy_requests
               (id, shop_id, kind, scope, asked_by, source, subject_digests, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING RETURNING true""",
        request.id,
        request.shop_id,
        request.kind,
        request.scope,
        request.asked_by,
        request.source,
        request.subject_digests,
        request.requested_at,
    )
    return bool(created)


@dataclass(frozen=True)
class Part:
    """One privacy.completed event as intake keeps it."""

    request_id: str
    shop_id: str
    service: str
    chunk: int
    chunks: int
    status: str
    counts: dict[str, int]
    data: dict[str, list[dict[str, Any]]] | None
    completed_at: datetime


async def record_parts(conn: Connection, parts: Sequence[Part]) -> list[str]:
    """Keep each part once (a redelivered chunk changes nothing), without an export's rows if the
    customer was erased since the export was asked for. Returns the requests the parts belong to;
    a part of another shop's or an unknown request is not kept."""
    rows = await conn.fetch(
        """INSERT INTO privacy_parts
               (request_id, service, chunk, chunks, status, counts, data, data_removed, completed_at)
           SELECT p.request_id, p.service, p.chunk, p.chunks, p.status, p.counts::jsonb,
                  CASE WHEN erased THEN NULL ELSE p.data::jsonb END,
                  CASE WHEN erased AND p.data IS NOT NULL THEN 'erased' END, p.completed_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[],
                       $7::text[], $8::text[], $9::timestamptz[])
                AS p (request_id, shop_id, service, chunk, chunks, status, counts, data, completed_at)
           JOIN privacy_requests r ON r.id = p.request_id AND r.shop_id = p.shop_id
           CROSS JOIN LATERAL (SELECT EXISTS (
               SELECT 1 FROM erased_customers e
               WHERE e.shop_id = r.shop_id AND e.digest = ANY(r.subject_digests)
                 AND e.erased_at >= r.requested_at) AS erased) AS since
           ON CONFLICT (request_id, service, chunk) DO NOTHING
           RETURNING request_id""",
        [p.request_id for p in parts],
        [p.shop_id for p in parts],
        [p.service for p in parts],
        [p.chunk for p in parts],
        [p.chunks for p in parts],
        [p.status for p in parts],
        [json.dumps(p.counts) for p in parts],
        [json.dumps(p.data) if p.data is not None else None for p in parts],
        [p.completed_at for p in parts],
    )
    return sorted({row["request_id"] for row in rows})


async def settle(
    conn: Connection, request_ids: list[str], services: Iterable[str], at: datetime
) -> list[str]:
    """Mark complete the pending requests every service has answered in full (all its chunks);
    returns their kinds."""
    rows = await conn.fetch(
        """UPDATE privacy_requests r SET status = 'complete', completed_at = $3
           WHERE r.id = ANY($1::text[]) AND r.status = 'pending'
             AND (SELECT count(*) FROM (
                      SELECT service FROM privacy_parts p WHERE p.request_id = r.id
                      GROUP BY service HAVING count(*) = max(p.chunks)) AS done
                  WHERE done.service = ANY($2::text[])) = cardinality($2::text[])
           RETURNING kind""",
        request_ids,
        list(services),
        at,
    )
    return [row["kind"] for row in rows]


async def get_request(conn: Connection, shop_id: str, request_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT id, kind, scope, asked_by, source, status, requested_at, completed_at
           FROM privacy_requests WHERE shop_id = $1 AND id = $2""",
        shop_id,
        request_id,
    )


async def list_requests(conn: Connection, shop_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, kind, scope, asked_by, source, status, requested_at, completed_at
           FROM privacy_requests WHERE shop_id = $1 ORDER BY requested_at DESC, id DESC LIMIT $2""",
        shop_id,
        limit,
    )


async def parts_of(conn: Connection, request_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT service, chunk, chunks, status, counts, data, data_removed, completed_at
           FROM privacy_parts WHERE request_id = $1 ORDER BY service, chunk""",
        request_id,
    )


async def pending(conn: Connection) -> tuple[int, datetime | None]:
    """How many requests are pending, and when the oldest of them was made."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(requested_at) AS oldest FROM privacy_requests WHERE status = 'pending'"
    )
    assert row is not None
    return int(row["n"]), row["oldest"]


async def expire_exports(conn: Connection, before: datetime) -> int:
    """Drop the rows of exports completed before `before` (the part and its counts stay)."""
    status = await conn.execute(
        """UPDATE privacy_parts SET data = NULL, data_removed = 'expired'
           WHERE data IS NOT NULL AND completed_at < $1""",
        before,
    )
    return int(status.split()[-1])


# -- retention settings ----------------------------------------------------------------------------


async def message_body_days(conn: Connection, shop_id: str) -> int | None:
    days = await conn.fetchval("SELECT message_body_days FROM retention_settings WHERE shop_id = $1", shop_id)
    return int(days) if days is not None else None


async def put_message_body_days(conn: Connection, shop_id: str, days: int | None, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO retention_settings (shop_id, message_body_days, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (shop_id) DO UPDATE SET message_body_days = $2, updated_at = $3""",
        shop_id,
        days,
        at,
    )


async def retention_of_shops(conn: Connection, shop_ids: list[str]) -> dict[str, int | None]:
    """Each shop's own message retention (a shop without a setting is absent)."""
    rows = await conn.fetch(
        "SELECT shop_id, message_body_days FROM retention_settings WHERE shop_id = ANY($1::text[])",
        shop_ids,
    )
    return {row["shop_id"]: row["message_body_days"] for row in rows}
