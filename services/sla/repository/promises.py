"""SQL of the order promises: opened, moved and settled by order events, claimed by the sweep. A
promise is its shop's: every lookup by order names the shop and the order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from runtime.db import Connection
from schemas.v1.sla import PromiseKind
from services.sla.domain.promises import PromiseRecord, PromiseStatus, StoredPromise
from services.sla.repository.claims import claim_due

_PROMISE_COLUMNS = "id, shop_id, order_id, kind, customer, promised_at, status, repair_id"
_PROMISE_DUE = "greatest(promised_at, retry_at)"
"""When the sweep may claim a promise: its promised instant, or a later retry after a failure
(greatest ignores a NULL retry_at). The expression of the promises_due index (migration 003)."""
_CLAIM_PROMISES = claim_due("promises", _PROMISE_COLUMNS, _PROMISE_DUE, "<")


def _promise(row: asyncpg.Record) -> PromiseRecord:
    values = dict(row)
    values["kind"] = PromiseKind(values["kind"])
    values["status"] = PromiseStatus(values["status"])
    return PromiseRecord(**values)


async def open_promise(conn: Connection, promise: PromiseRecord) -> None:
    """Start watching a promise; a running one with the same id gets the new promised instant."""
    await conn.execute(
        f"INSERT INTO promises ({_PROMISE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7)"  # noqa: S608
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
        f"SELECT {_PROMISE_COLUMNS} FROM promises WHERE shop_id = $1 AND order_id = $2"  # noqa: S608
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


async def lock_promises(conn: Connection, orders: Sequence[tuple[str, str]]) -> list[StoredPromise]:
    """Every promise of these (shop id, order id) orders, whatever its status, locked in id order (two
    transactions locking overlapping sets cannot deadlock each other). The batch path needs the settled
    rows too: re-opening one of those changes nothing. A promise's id is made of its shop and order, so
    this also finds every row an Open of these orders would conflict with. The (shop_id, order_id)
    index serves it, one probe per order."""
    rows = await conn.fetch(
        f"SELECT {_PROMISE_COLUMNS}, settled_at, breached_at FROM promises"  # noqa: S608
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
