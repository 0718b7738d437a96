"""SQL of what a shop sets up: its webhook endpoints (with their health) and its template overrides,
and what the consumers read of both to queue a batch of events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from services.notify.domain.breaker import BreakerState
from services.notify.domain.outcome import Health
from services.notify.domain.templates import MessageTemplate

ENDPOINT_COLUMNS = (
    "id, shop_id, url, description, event_types, rate_limit_per_second, enabled, disabled_reason,"
    " disabled_at, secret, previous_secret, previous_secret_expires_at, failing_since, breaker_failures,"
    " breaker_open_until, created_at, updated_at"
)


@dataclass(frozen=True)
class Endpoint:
    id: str
    shop_id: str
    url: str
    description: str
    event_types: list[str]
    rate_limit_per_second: float | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    breaker_failures: int
    breaker_open_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Endpoint:
        return cls(**dict(row))

    @property
    def health(self) -> Health:
        return Health(BreakerState(self.breaker_failures, self.breaker_open_until), self.failing_since)


# -- endpoints -----------------------------------------------------------------------------------
async def insert_endpoint(conn: Connection, endpoint: Endpoint) -> None:
    await conn.execute(
        f"INSERT INTO endpoints ({ENDPOINT_COLUMNS}) VALUES "  # noqa: S608
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        endpoint.id,
        endpoint.shop_id,
        endpoint.url,
        endpoint.description,
        endpoint.event_types,
        endpoint.rate_limit_per_second,
        endpoint.enabled,
        endpoint.disabled_reason,
        endpoint.disabled_at,
        endpoint.secret,
        endpoint.previous_secret,
        endpoint.previous_secret_expires_at,
        endpoint.failing_since,
        endpoint.breaker_failures,
        endpoint.breaker_open_until,
        endpoint.created_at,
        endpoint.updated_at,
    )


async def list_endpoints(conn: Connection, shop_id: str) -> list[Endpoint]:
    rows = await conn.fetch(
        f"SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE shop_id = $1 ORDER BY created_at, id",  # noqa: S608
        shop_id,
    )
    return [Endpoint.from_row(r) for r in rows]


async def get_endpoint(
    conn: Connection, shop_id: str, endpoint_id: str, *, for_update: bool = False
) -> Endpoint | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE shop_id = $1 AND id = $2{lock}",  # noqa: S608
        shop_id,
        endpoint_id,
    )
    return Endpoint.from_row(row) if row else None


async def lock_endpoint(conn: Connection, endpoint_id: str) -> Endpoint | None:
    row = await conn.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE id = $1 FOR NO KEY UPDATE",  # noqa: S608
        endpoint_id,
    )
    return Endpoint.from_row(row) if row else None


_UPDATABLE = frozenset(
    {
        "url",
        "description",
        "event_types",
        "rate_limit_per_second",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "secret",
        "previous_secret",
        "previous_secret_expires_at",
        "failing_since",
        "breaker_failures",
        "breaker_open_until",
    }
)


async def update_endpoint(
    conn: Connection, shop_id: str, endpoint_id: str, now: datetime, **changes: Any
) -> Endpoint | None:
    """The endpoint as changed (None if the shop has no such endpoint)."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    columns = [*changes, "updated_at"]
    # column names from _UPDATABLE only, values as parameters
    assignments = ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(columns))
    row = await conn.fetchrow(
        f"UPDATE endpoints SET {assignments} WHERE shop_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}",  # noqa: S608
        shop_id,
        endpoint_id,
        *changes.values(),
        now,
    )
    return Endpoint.from_row(row) if row else None


async def delete_endpoint(conn: Connection, shop_id: str, endpoint_id: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM endpoints WHERE shop_id = $1 AND id = $2 RETURNING true", shop_id, endpoint_id
    )
    return bool(deleted)


@dataclass(frozen=True)
class Subscribers:
    endpoints: list[tuple[str, list[str]]]
    """(id, event-type filter) of the shop's enabled endpoints."""
    override: MessageTemplate | None
    """The shop's own template for this event type and language, if it has one."""


@dataclass(frozen=True)
class ShopSubscriptions:
    """What a batch of consumed events needs to know to queue its deliveries."""

    endpoints: dict[str, list[tuple[str, list[str]]]]
    """shop id -> (endpoint id, event-type filter) of its enabled endpoints, by endpoint id."""
    overrides: dict[tuple[str, str, str], MessageTemplate]
    """(shop id, event type, language) -> the shop's own template, where it has one."""

    def for_event(self, shop_id: str, event_type: str, language: str) -> Subscribers:
        return Subscribers(
            self.endpoints.get(shop_id, []), self.overrides.get((shop_id, event_type, language))
        )


async def subscriptions(conn: Connection, keys: list[tuple[str, str, str]]) -> ShopSubscriptions:
    """The enabled endpoints of the shops in `keys` (shop id, event type, language) and the template
    overrides for exactly those keys, in one round trip for a whole batch of events."""
    rows = await conn.fetch(
        """SELECT 'endpoint' AS kind, e.shop_id, e.id AS name, e.event_types,
                  NULL::text AS language, NULL::text AS subject, NULL::text AS body
           FROM endpoints e
           WHERE e.shop_id = ANY($1::text[]) AND e.enabled
           UNION ALL
           SELECT 'template', o.shop_id, o.event_type, NULL::text[], o.language, o.subject, o.body
           FROM template_overrides o
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(shop_id, event_type, language)
             ON (o.shop_id, o.event_type, o.language) = (k.shop_id, k.event_type, k.language)""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    endpoints: dict[str, list[tuple[str, list[str]]]] = {}
    overrides: dict[tuple[str, str, str], MessageTemplate] = {}
    for r in rows:
        if r["kind"] == "endpoint":
            endpoints.setdefault(r["shop_id"], []).append((r["name"], list(r["event_types"])))
        else:
            overrides[(r["shop_id"], r["name"], r["language"])] = MessageTemplate(r["subject"], r["body"])
    for found in endpoints.values():
        found.sort()  # endpoint id order, as a single event's deliveries were always written
    return ShopSubscriptions(endpoints, overrides)


# -- templates -----------------------------------------------------------------------------------
async def put_template_override(
    conn: Connection, shop_id: str, event_type: str, language: str, template: MessageTemplate, now: datetime
) -> None:
    await conn.execute(
        """INSERT INTO template_overrides (shop_id, event_type, language, subject, body, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (shop_id, event_type, language)
           DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body,
                         updated_at = EXCLUDED.updated_at""",
        shop_id,
        event_type,
        language,
        template.subject,
        template.text,
        now,
    )


async def delete_template_override(conn: Connection, shop_id: str, event_type: str, language: str) -> bool:
    return bool(
        await conn.fetchval(
            "DELETE FROM template_overrides WHERE shop_id = $1 AND event_type = $2 AND language = $3"
            " RETURNING true",
            shop_id,
            event_type,
            language,
        )
    )


async def list_template_overrides(conn: Connection, shop_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT event_type, language, subject, body, updated_at FROM template_overrides"
        " WHERE shop_id = $1 ORDER BY event_type, language",
        shop_id,
    )
