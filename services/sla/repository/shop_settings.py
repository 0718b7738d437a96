"""SQL of a shop's SLA settings: its policies and its business calendar (the defaults until it stores
its own)."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.db import Connection
from services.sla.domain.calendar_document import CalendarDocument, default_calendar_document
from services.sla.domain.policies import DEFAULT_POLICIES, PolicySet


async def load_policies(conn: Connection, shop_id: str) -> PolicySet:
    document = await conn.fetchval("SELECT document FROM sla_policies WHERE shop_id = $1", shop_id)
    return DEFAULT_POLICIES if document is None else PolicySet.model_validate(document)


async def save_policies(conn: Connection, shop_id: str, policies: PolicySet) -> None:
    await conn.execute(
        "INSERT INTO sla_policies (shop_id, document) VALUES ($1, $2) "
        "ON CONFLICT (shop_id) DO UPDATE SET document = EXCLUDED.document, updated_at = now()",
        shop_id,
        policies.model_dump(mode="json"),
    )


async def load_calendar(conn: Connection, shop_id: str, shop_timezone: str) -> CalendarDocument:
    document = await conn.fetchval("SELECT document FROM sla_calendars WHERE shop_id = $1", shop_id)
    if document is None:
        return default_calendar_document(shop_timezone)
    return CalendarDocument.model_validate(document)


async def save_calendar(conn: Connection, shop_id: str, calendar: CalendarDocument) -> None:
    await conn.execute(
        "INSERT INTO sla_calendars (shop_id, document) VALUES ($1, $2) "
        "ON CONFLICT (shop_id) DO UPDATE SET document = EXCLUDED.document, updated_at = now()",
        shop_id,
        calendar.model_dump(mode="json"),
    )


async def load_ship_by_terms(
    conn: Connection, shops: Sequence[tuple[str, str]]
) -> dict[str, tuple[PolicySet, CalendarDocument]]:
    """`load_policies` and `load_calendar` of many shops, given as (id, time zone), in one round trip."""
    rows = await conn.fetch(
        "SELECT s.shop_id, p.document AS policies, c.document AS calendar"
        " FROM unnest($1::text[]) AS s (shop_id)"
        " LEFT JOIN sla_policies p USING (shop_id) LEFT JOIN sla_calendars c USING (shop_id)",
        [shop_id for shop_id, _ in shops],
    )
    timezone = dict(shops)
    return {
        r["shop_id"]: (
            DEFAULT_POLICIES if r["policies"] is None else PolicySet.model_validate(r["policies"]),
            default_calendar_document(timezone[r["shop_id"]])
            if r["calendar"] is None
            else CalendarDocument.model_validate(r["calendar"]),
        )
        for r in rows
    }
