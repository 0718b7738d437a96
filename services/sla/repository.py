"""The SLA service's SQL: policies, calendars, tickets, clocks and order promises."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import asyncpg

from runtime.db import Connection
from schemas.v1.sla import PromiseKind, SlaMetric
from services.sla.domain.calendar_document import CalendarDocument, default_calendar_document
from services.sla.domain.clocks import Clock, ClockStatus, Outcome, Stage, StageKind
from services.sla.domain.policies import DEFAULT_POLICIES, PolicySet
from services.sla.domain.promises import PromiseRecord, PromiseStatus, StoredPromise

# -- policies and calendars -------------------------------------------------------------------


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


# -- tickets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketState:
    ticket_id: str
    shop_id: str
    status: str
    agent_replied: bool


async def lock_ticket(conn: Connection, ticket_id: str) -> TicketState | None:
    row = await conn.fetchrow(
        "SELECT ticket_id, shop_id, status, agent_replied FROM tickets WHERE ticket_id = $1 FOR UPDATE",
        ticket_id,
    )
    return None if row is None else TicketState(**dict(row))


async def save_ticket(conn: Connection, ticket: TicketState, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO tickets (ticket_id, shop_id, status, agent_replied, updated_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (ticket_id) DO UPDATE SET status = EXCLUDED.status,
               agent_replied = EXCLUDED.agent_replied, updated_at = EXCLUDED.updated_at""",
        ticket.ticket_id,
        ticket.shop_id,
        ticket.status,
        ticket.agent_replied,
        at,
    )


# -- the timer sweep's claim ------------------------------------------------------------------


def _claim_due(table: str, columns: str, due: str, reached: str) -> str:
    """The sweep's claim: running rows whose `due` column is `reached` ("<=" or "<") at $1, earliest
    first, at most $2. The partial index on (due) WHERE status = 'running' serves it, and rows another
    instance has locked are skipped (SKIP LOCKED), not waited for."""
    return (
        f"SELECT {columns} FROM {table} WHERE status = 'running' AND {due} {reached} $1"
        f" ORDER BY {due} LIMIT $2 FOR UPDATE SKIP LOCKED"
    )


# -- clocks -----------------------------------------------------------------------------------


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


_CLAIM_CLOCKS = _claim_due("clocks", _CLOCK_SELECT, "due_at", "<=")

_INSERT_CLOCK = (
    f"INSERT INTO clocks ({_CLOCK_COLUMNS}) VALUES "
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
            f"INSERT INTO clocks ({_CLOCK_COLUMNS}) SELECT {_CLOCK_LOAD_SELECT} FROM clocks_load"
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
        f"SELECT {_CLOCK_SELECT} FROM clocks WHERE ticket_id = $1 AND status IN ('running', 'paused')"
        " ORDER BY started_at, id FOR UPDATE",
        ticket_id,
    )
    return [_record(r) for r in rows]


async def claim_due_clocks(conn: Connection, now: datetime, limit: int) -> list[ClockRecord]:
    """Lock up to `limit` clocks with a stage due at `now` (inclusive: a stage fires at its instant)."""
    return [_record(r) for r in await conn.fetch(_CLAIM_CLOCKS, now, limit)]


async def ticket_clocks(conn: Connection, shop_id: str, ticket_id: str) -> list[ClockRecord]:
    rows = await conn.fetch(
        f"SELECT {_CLOCK_SELECT} FROM clocks WHERE shop_id = $1 AND ticket_id = $2 ORDER BY started_at, id",
        shop_id,
        ticket_id,
    )
    return [_record(r) for r in rows]


async def clock_statistics(conn: Connection, since: datetime) -> tuple[dict[str, int], dict[str, float]]:
    """Open clocks per metric, and the share of finished targets met per metric since `since`."""
    open_rows = await conn.fetch(
        "SELECT metric, count(*) AS n FROM clocks WHERE status IN ('running', 'paused') GROUP BY metric"
    )
    ratio_rows = await conn.fetch(
        "SELECT metric, avg(CASE WHEN outcome = 'met' THEN 1.0 ELSE 0.0 END) AS ratio FROM clocks"
        " WHERE outcome IS NOT NULL AND started_at >= $1 GROUP BY metric",
        since,
    )
    return (
        {r["metric"]: r["n"] for r in open_rows},
        {r["metric"]: float(r["ratio"]) for r in ratio_rows},
    )


# -- order promises ---------------------------------------------------------------------------


_PROMISE_COLUMNS = "id, shop_id, order_id, kind, customer, promised_at, status, repair_id"
_PROMISE_DUE = "greatest(promised_at, retry_at)"
"""When the sweep may claim a promise: its promised instant, or a later retry after a failure
(greatest ignores a NULL retry_at). The expression of the promises_due index (migration 003)."""
_CLAIM_PROMISES = _claim_due("promises", _PROMISE_COLUMNS, _PROMISE_DUE, "<")


def _promise(row: asyncpg.Record) -> PromiseRecord:
    values = dict(row)
    values["kind"] = PromiseKind(values["kind"])
    values["status"] = PromiseStatus(values["status"])
    return PromiseRecord(**values)


async def open_promise(conn: Connection, promise: PromiseRecord) -> None:
    """Start watching a promise; a running one with the same id gets the new promised instant."""
    await conn.execute(
        f"INSERT INTO promises ({_PROMISE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7)"
        " ON CONFLICT (id) DO UPDATE SET promised_at = EXCLUDED.promised_at"
        " WHERE promises.status = 'running'",
        promise.id,
        promise.shop_id,
        promise.order_id,
        promise.kind.value,
        promise.customer,
        promise.promised_at,
        promise.repair_id,
    )


async def lock_running_promises(conn: Connection, shop_id: str, order_id: str) -> list[PromiseRecord]:
    """The running promises of one shop's order (another shop's order of the same id is another order)."""
    rows = await conn.fetch(
        f"SELECT {_PROMISE_COLUMNS} FROM promises WHERE shop_id = $1 AND order_id = $2"
        " AND status = 'running' ORDER BY id FOR UPDATE",
        shop_id,
        order_id,
    )
    return [_promise(r) for r in rows]


async def settle_promise(
    conn: Connection, promise_id: str, status: PromiseStatus, at: datetime, breached_at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE promises SET status = $2, settled_at = $3, breached_at = coalesce(breached_at, $4)"
        " WHERE id = $1",
        promise_id,
        status.value,
        at,
        breached_at,
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


async def lock_promises(conn: Connection, orders: Sequence[tuple[str, str]]) -> list[StoredPromise]:
    """Every promise of these (shop id, order id) orders, whatever its status, locked in id order (two
    transactions locking overlapping sets cannot deadlock each other). The batch path needs the settled
    rows too: re-opening one of those changes nothing. A promise's id is made of its shop and order, so
    this also finds every row an Open of these orders would conflict with. The (shop_id, order_id)
    index serves it, one probe per order."""
    rows = await conn.fetch(
        f"SELECT {_PROMISE_COLUMNS}, settled_at, breached_at FROM promises"
        " WHERE (shop_id, order_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        " ORDER BY id FOR UPDATE",
        [shop_id for shop_id, _ in orders],
        [order_id for _, order_id in orders],
    )
    return [
        StoredPromise(
            PromiseRecord(
                r["id"],
                r["shop_id"],
                r["order_id"],
                PromiseKind(r["kind"]),
                r["customer"],
                r["promised_at"],
                PromiseStatus(r["status"]),
                r["repair_id"],
            ),
            r["settled_at"],
            r["breached_at"],
        )
        for r in rows
    ]


async def save_promises(conn: Connection, promises: Sequence[StoredPromise]) -> None:
    """Write promises as they now stand in one statement: new ones are inserted, the others get their
    changing columns (promised instant, status, settlement) overwritten. Each id at most once: one
    INSERT ... ON CONFLICT cannot update the same row twice."""
    if not promises:
        return
    await conn.execute(
        """INSERT INTO promises (id, shop_id, order_id, kind, customer, promised_at, status, repair_id,
                                 settled_at, breached_at)
           SELECT id, shop_id, order_id, kind, customer::jsonb, promised_at, status, repair_id,
                  settled_at, breached_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                       $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])
                AS u (id, shop_id, order_id, kind, customer, promised_at, status, repair_id, settled_at,
                      breached_at)
           ON CONFLICT (id) DO UPDATE SET promised_at = excluded.promised_at, status = excluded.status,
               settled_at = excluded.settled_at, breached_at = excluded.breached_at""",
        [s.promise.id for s in promises],
        [s.promise.shop_id for s in promises],
        [s.promise.order_id for s in promises],
        [s.promise.kind.value for s in promises],
        # as text, cast in SQL: the same json.dumps the pool's jsonb codec applies to a single value
        [json.dumps(s.promise.customer) for s in promises],
        [s.promise.promised_at for s in promises],
        [s.promise.status.value for s in promises],
        [s.promise.repair_id for s in promises],
        [s.settled_at for s in promises],
        [s.breached_at for s in promises],
    )


async def claim_due_promises(conn: Connection, now: datetime, limit: int) -> list[PromiseRecord]:
    """Lock up to `limit` promises broken at `now` (exclusive: the promised instant itself is kept) and
    not deferred past it. Every shop's: the sweep serves them all, and each row goes on by its id,
    which names its shop."""
    return [_promise(r) for r in await conn.fetch(_CLAIM_PROMISES, now, limit)]


async def breach_promises(conn: Connection, ids: Sequence[str], at: datetime) -> None:
    await conn.execute(
        "UPDATE promises SET status = 'breached', breached_at = $2 WHERE id = ANY($1::text[])", list(ids), at
    )


async def defer_promises(conn: Connection, failures: Sequence[tuple[str, str]], until: datetime) -> None:
    """Look at these (promise id, reason) again at `until`; their promised instant stays as it is."""
    if failures:
        await conn.execute(
            "UPDATE promises SET retry_at = $3, failure = u.reason"
            " FROM unnest($1::text[], $2::text[]) AS u (id, reason) WHERE promises.id = u.id",
            [promise_id for promise_id, _ in failures],
            [reason for _, reason in failures],
            until,
        )
