"""The audit log's SQL: appended from audit.events, read per shop (or across shops by the operator),
purged after its retention by the one delete the table's trigger lets through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from runtime.db import Connection
from schemas.envelope import CloudEvent
from schemas.v1.audit import AuditRecorded

COLUMNS = "shop_id, service, actor_kind, actor_id, agent, action, target, source_ip, at"


async def append(conn: Connection, events: Sequence[CloudEvent[AuditRecorded]]) -> int:
    """Append the records in one statement; a record already there (its event id) is left alone."""
    if not events:
        return 0
    rows = [(e.id, *_values(e.data)) for e in events]
    columns = list(zip(*rows, strict=True))
    inserted = await conn.fetch(
        f"""INSERT INTO audit_log (event_id, {COLUMNS})
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[])
            ON CONFLICT (event_id) DO NOTHING RETURNING id""",  # noqa: S608 (a constant column list)
        *[list(c) for c in columns],
    )
    return len(inserted)


def _values(r: AuditRecorded) -> tuple[object, ...]:
    return (
        r.shop_id,
        r.service,
        r.actor_kind.value,
        r.actor_id,
        r.agent,
        r.action,
        r.target,
        r.source_ip,
        r.at,
    )


async def page(
    conn: Connection,
    shop_id: str | None,
    since: datetime,
    until: datetime,
    action: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Newest first; one shop's records, or every shop's for `shop_id` None (the operator's view)."""
    return await conn.fetch(
        f"""SELECT id, {COLUMNS} FROM audit_log
            WHERE ($1::text IS NULL OR shop_id = $1) AND at >= $2 AND at < $3
              AND ($4::text IS NULL OR action = $4)
            ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6""",  # noqa: S608 (a constant column list)
        shop_id,
        since,
        until,
        action,
        limit,
        offset,
    )


async def purge(conn: Connection, before: datetime, batch: int) -> int:
    """Delete up to `batch` records older than `before`, in the caller's transaction (which the
    append-only trigger lets delete exactly those)."""
    await conn.execute("SELECT set_config('careloop.audit_purge_before', $1, true)", before.isoformat())
    deleted = await conn.fetch(
        """DELETE FROM audit_log WHERE id IN
               (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)
           RETURNING id""",
        before,
        batch,
    )
    return len(deleted)
