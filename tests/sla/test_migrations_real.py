"""The SLA schema's migrations on the real Postgres: promises stored under the old, shop-less ids before
002_promises_per_shop.sql are found under the per-shop ids after it; 003_promise_retry.sql keeps the
rows and gives the sweep's claim its new due index."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from schemas.v1.sla import PromiseKind
from services.sla.bootstrap import MIGRATIONS
from services.sla.domain.promises import promise_id
from services.sla.repository import promises as promise_sql
from tests.sla.support import T0
from tests.support.shops import SHOP_A, SHOP_B
from tests.support.stack import service_connection

PER_SHOP = "sla/002_promises_per_shop.sql"
RETRY = "sla/003_promise_retry.sql"

OLD_ROWS = [
    # (old id, shop, order, kind, repair)
    ("1001:ship_by", SHOP_A, "1001", PromiseKind.SHIP_BY, None),
    ("1001:repair_turnaround:r-1", SHOP_A, "1001", PromiseKind.REPAIR_TURNAROUND, "r-1"),
    ("1002:delivery_date", SHOP_B, "1002", PromiseKind.DELIVERY_DATE, None),
    # shop B's order "shop-a:o" has an old id equal to shop A's order "o"'s new one: rewriting row by
    # row under the primary key could collide with a row not yet rewritten
    ("o:ship_by", SHOP_A, "o", PromiseKind.SHIP_BY, None),
    (f"{SHOP_A}:o:ship_by", SHOP_B, f"{SHOP_A}:o", PromiseKind.SHIP_BY, None),
]


async def table_shape(conn: asyncpg.Connection[asyncpg.Record]) -> list[tuple[object, ...]]:
    columns = await conn.fetch(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'promises' ORDER BY ordinal_position"
    )
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conrelid = 'promises'::regclass ORDER BY conname"
    )
    return [tuple(r) for r in columns] + [tuple(r) for r in constraints]


async def test_old_promise_ids_are_rewritten_per_shop_and_lookups_use_the_shop_index(infra: Settings) -> None:
    settings = infra.for_service("sla")
    await ensure_service_schema(settings)
    every = load_migrations(RUNTIME_SQL, "runtime") + load_migrations(MIGRATIONS, "sla")
    before = every[: [m.version for m in every].index(PER_SHOP)]
    conn = await service_connection(infra, "sla")
    try:
        await apply_migrations(conn, settings.db_schema, before)
        for old_id, shop, order, kind, repair in OLD_ROWS:
            await conn.execute(
                "INSERT INTO promises (id, shop_id, order_id, repair_id, kind, customer, promised_at, status)"
                " VALUES ($1, $2, $3, $4, $5, '{}', $6, 'running')",
                old_id,
                shop,
                order,
                repair,
                kind.value,
                T0 + timedelta(hours=1),
            )

        shape = await table_shape(conn)

        # 002 alone: later migrations change the table again (tested on their own)
        through = every[: len(before) + 1]
        assert await apply_migrations(conn, settings.db_schema, through) == [PER_SHOP]

        assert await table_shape(conn) == shape  # the same columns, defaults and constraints

        rows = await conn.fetch("SELECT id, shop_id, order_id, kind, repair_id FROM promises")
        assert sorted(r["id"] for r in rows) == sorted(
            promise_id(shop, order, kind, repair) for _, shop, order, kind, repair in OLD_ROWS
        )
        assert all(
            r["id"] == promise_id(r["shop_id"], r["order_id"], PromiseKind(r["kind"]), r["repair_id"])
            for r in rows
        )
        # the key is back: an id cannot be stored twice
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO promises (id, shop_id, order_id, kind, customer, promised_at, status)"
                " SELECT id, shop_id, order_id, kind, customer, promised_at, status FROM promises LIMIT 1"
            )
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'promises'",
                settings.db_schema,
            )
        }
        assert set(indexes) == {"promises_pkey", "promises_due", "promises_by_shop_order"}
        assert indexes["promises_by_shop_order"].endswith("(shop_id, order_id)")
        assert indexes["promises_due"].endswith("(promised_at) WHERE (status = 'running'::text)")
        await conn.execute("SET enable_seqscan = off")  # a five-row table: ask whether the index can serve
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM promises WHERE shop_id = $1 AND order_id = $2", SHOP_A, "1001"
            )
        )
        assert "promises_by_shop_order" in plan
    finally:
        await conn.close()


async def test_promise_retry_columns_keep_the_rows_and_the_claim_uses_the_new_due_index(
    infra: Settings,
) -> None:
    settings = infra.for_service("sla")
    await ensure_service_schema(settings)
    every = load_migrations(RUNTIME_SQL, "runtime") + load_migrations(MIGRATIONS, "sla")
    before = every[: [m.version for m in every].index(RETRY)]
    conn = await service_connection(infra, "sla")
    try:
        await apply_migrations(conn, settings.db_schema, before)
        await conn.execute(
            "INSERT INTO promises (id, shop_id, order_id, kind, customer, promised_at, status)"
            " VALUES ('p', $1, 'o', 'ship_by', '{}', $2, 'running')",
            SHOP_A,
            T0,
        )
        upto_retry = every[: [m.version for m in every].index(RETRY) + 1]
        assert await apply_migrations(conn, settings.db_schema, upto_retry) == [RETRY]
        row = await conn.fetchrow("SELECT id, promised_at, status, retry_at, failure FROM promises")
        assert row is not None
        assert dict(row) == {
            "id": "p",
            "promised_at": T0,
            "status": "running",
            "retry_at": None,
            "failure": None,
        }
        due = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'promises_due'",
            settings.db_schema,
        )
        assert due.endswith("(GREATEST(promised_at, retry_at)) WHERE (status = 'running'::text)")
        await conn.execute("SET enable_seqscan = off")  # a one-row table: ask whether the index can serve
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + promise_sql._CLAIM_PROMISES, T0, 10))
        assert "promises_due" in plan
    finally:
        await conn.close()
