"""SQL of the SLA clocks: started by ticket events, moved by the handlers, claimed by the sweep."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import asyncpg

from runtime.db import Connection
from schemas.v1.sla import SlaMetric
from services.sla.domain.clocks import Clock, ClockStatus, Outcome, Stage, StageKind
from services.sla.domain.reports import Finished
from services.sla.repository.claims import claim_due


@dataclass(frozen=True)
class ClockRecord:
    """A clock with what it belongs to; the domain clock is the part that changes."""

    clock: Clock
    shop_id: str
    ticket_id: str
    policy_id: str
    channel: str
    category: str
    priority: str


_CLOCK_FIELDS = [
    "id",
    "shop_id",
    "ticket_id",
    "metric",
    "policy_id",
    "channel",
    "category",
    "priority",
    "target_seconds",
    "business_hours",
    "stages",
    "status",
    "outcome",
    "started_at",
    "running_since",
    "consumed",
    "stages_done",
    "stage_at",
    "due_at",
    "breached_at",
    "stopped_at",
    "elapsed",
]
_CLOCK_COLUMNS = ", ".join(_CLOCK_FIELDS)
_CLOCK_SELECT = ", ".join("stages::text AS stages" if f == "stages" else f for f in _CLOCK_FIELDS)
"""Stages are read as text: `_stages` parses each distinct document once instead of once per row."""
_CLOCK_LOAD_SELECT = ", ".join("stages::jsonb" if f == "stages" else f for f in _CLOCK_FIELDS)


def _stages_json(stages: Sequence[Stage]) -> list[dict[str, Any]]:
    return [
        {"kind": s.kind.value, "share": s.share, "level": s.level, "escalate_to": s.escalate_to}
        for s in stages
    ]


@lru_cache(maxsize=1024)
def _stages(document: str) -> tuple[Stage, ...]:
    """A clock's stages are copied from its policy, so a handful of documents repeat across all rows;
    Stage is frozen, so one parsed tuple can be shared (it was a tenth of the sweep's CPU per row)."""
    return tuple(
        Stage(StageKind(s["kind"]), s["share"], s["level"], s["escalate_to"]) for s in json.loads(document)
    )


def _record(row: asyncpg.Record) -> ClockRecord:
    clock = Clock(
        id=row["id"],
        metric=SlaMetric(row["metric"]),
        target=timedelta(seconds=row["target_seconds"]),
        business_hours=row["business_hours"],
        stages=_stages(row["stages"]),
        status=ClockStatus(row["status"]),
        started_at=row["started_at"],
        running_since=row["running_since"],
        consumed=row["consumed"],
        stages_done=row["stages_done"],
        stage_at=tuple(row["stage_at"]),
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        breached_at=row["breached_at"],
        stopped_at=row["stopped_at"],
        elapsed=row["elapsed"],
    )
    return ClockRecord(
        clock,
        row["shop_id"],
        row["ticket_id"],
        row["policy_id"],
        row["channel"],
        row["category"],
        row["priority"],
    )


def _insert_args(record: ClockRecord) -> tuple[Any, ...]:
    c = record.clock
    return (
        c.id,
        record.shop_id,
        record.ticket_id,
        c.metric.value,
        record.policy_id,
        record.channel,
        record.category,
        record.priority,
        c.target.total_seconds(),
        c.business_hours,
        _stages_json(c.stages),
        c.status.value,
        c.outcome.value if c.outcome else None,
        c.started_at,
        c.running_since,
        c.consumed,
        c.stages_done,
        list(c.stage_at),
        c.due_at,
        c.breached_at,
        c.stopped_at,
        c.elapsed,
    )


_CLAIM_CLOCKS = claim_due("clocks", _CLOCK_SELECT, "due_at", "<=")

_INSERT_CLOCK = (
    f"INSERT INTO clocks ({_CLOCK_COLUMNS}) VALUES "  # noqa: S608
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
    " ON CONFLICT (id) DO NOTHING"
)


async def insert_clocks(conn: Connection, records: Sequence[ClockRecord]) -> None:
    await conn.executemany(_INSERT_CLOCK, [_insert_args(r) for r in records])


async def load_clocks(conn: Connection, records: Sequence[ClockRecord]) -> None:
    """Bulk-load new clocks with COPY, several times faster than `insert_clocks`; unlike it, an id that
    already exists fails the load. asyncpg's COPY is binary and the pool's jsonb codec text-only, so the
    rows go through a staging table whose stages column is text."""
    rows = [(*args[:10], json.dumps(args[10]), *args[11:]) for args in map(_insert_args, records)]
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE clocks_load (LIKE clocks) ON COMMIT DROP;"
            " ALTER TABLE clocks_load ALTER COLUMN stages TYPE text"
        )
        await conn.copy_records_to_table("clocks_load", records=rows, columns=_CLOCK_FIELDS)
        await conn.execute(
            f"INSERT INTO clocks ({_CLOCK_COLUMNS}) SELECT {_CLOCK_LOAD_SELECT} FROM clocks_load"  # noqa: S608
        )


_UPDATE_CLOCK = """UPDATE clocks SET status = $2, outcome = $3, running_since = $4, consumed = $5,
    stages_done = $6, stage_at = $7, due_at = $8, breached_at = $9, stopped_at = $10, elapsed = $11
    WHERE id = $1"""


def _update_args(c: Clock) -> tuple[Any, ...]:
    return (
        c.id,
        c.status.value,
        c.outcome.value if c.outcome else None,
        c.running_since,
        c.consumed,
        c.stages_done,
        list(c.stage_at),
        c.due_at,
        c.breached_at,
        c.stopped_at,
        c.elapsed,
    )


async def update_clocks(conn: Connection, clocks: Sequence[Clock]) -> None:
    if clocks:
        await conn.executemany(_UPDATE_CLOCK, [_update_args(c) for c in clocks])


async def defer_clocks(conn: Connection, clock_ids: Sequence[str], until: datetime) -> None:
    """Look at these clocks again at `until` (their stage instants stay as they are)."""
    if clock_ids:
        await conn.execute("UPDATE clocks SET due_at = $2 WHERE id = ANY($1::text[])", list(clock_ids), until)


async def lock_active_clocks(conn: Connection, ticket_id: str) -> list[ClockRecord]:
    rows = await conn.fetch(
        f"SELECT {_CLOCK_SELECT} FROM clocks WHERE ticket_id = $1 AND status IN ('running', 'paused')"  # noqa: S608
        " ORDER BY started_at, id FOR UPDATE",
        ticket_id,
    )
    return [_record(r) for r in rows]


async def claim_due_clocks(conn: Connection, now: datetime, limit: int) -> list[ClockRecord]:
    """Lock up to `limit` clocks with a stage due at `now` (inclusive: a stage fires at its instant)."""
    return [_record(r) for r in await conn.fetch(_CLAIM_CLOCKS, now, limit)]


async def ticket_clocks(conn: Connection, shop_id: str, ticket_id: str) -> list[ClockRecord]:
    rows = await conn.fetch(
        f"SELECT {_CLOCK_SELECT} FROM clocks WHERE shop_id = $1 AND ticket_id = $2 ORDER BY started_at, id",  # noqa: S608
        shop_id,
        ticket_id,
    )
    return [_record(r) for r in rows]


async def clock_statistics(conn: Connection, since: datetime) -> tuple[dict[str, int], list[Finished]]:
    """Open clocks per metric, and per shop and metric the targets decided (and met) among the clocks
    started since `since`."""
    open_rows = await conn.fetch(
        "SELECT metric, count(*) AS n FROM clocks WHERE status IN ('running', 'paused') GROUP BY metric"
    )
    finished_rows = await conn.fetch(
        "SELECT shop_id, metric, count(*) FILTER (WHERE outcome = 'met')::int AS met, count(*)::int AS n"
        " FROM clocks WHERE outcome IS NOT NULL AND started_at >= $1 GROUP BY shop_id, metric",
        since,
    )
    return (
        {r["metric"]: r["n"] for r in open_rows},
        [Finished(r["shop_id"], r["metric"], r["met"], r["n"]) for r in finished_rows],
    )
