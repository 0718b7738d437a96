"""A clean slate for each demo: before the services start, the demo shop's rows from earlier runs are
deleted from every service's schema (tickets, clocks, surveys, answers, endpoints, deliveries, its
rules and policies), so the summary's counts are this run's. Other shops' rows stay. `make run
DEMO_KEEP_DATA=1` skips it.

Which tables: every table of the services' schemas with a `shop_id` column, read from the catalog, so
a new migration's table is cleared without a change here; a table referencing another is cleared first.
The audit log is the exception: it is append-only by design (its trigger refuses deletes other than
its retention purge), so the history of earlier demo runs stays in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from graphlib import TopologicalSorter

import asyncpg

Table = tuple[str, str]
"""(schema, table)"""

APPEND_ONLY = frozenset({"audit_log"})
"""Tables the slate leaves alone (see above)."""

SHOP_TABLES = """
SELECT n.nspname AS schema, c.relname AS name
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE a.attname = 'shop_id' AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname = ANY($1::text[])
"""
REFERENCES = """
SELECT cn.nspname AS child_schema, cc.relname AS child, pn.nspname AS parent_schema, pc.relname AS parent
  FROM pg_constraint k
  JOIN pg_class cc ON cc.oid = k.conrelid
  JOIN pg_namespace cn ON cn.oid = cc.relnamespace
  JOIN pg_class pc ON pc.oid = k.confrelid
  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE k.contype = 'f' AND cn.nspname = ANY($1::text[])
"""


def deletion_order(tables: Iterable[Table], references: Iterable[tuple[Table, Table]]) -> list[Table]:
    """`tables` ordered so that a table referencing another (child, parent) comes before it. A table
    referencing itself (a ticket merged into another) is cleared in one statement, which Postgres
    checks as a whole."""
    after: dict[Table, set[Table]] = {table: set() for table in tables}
    for child, parent in references:
        if child != parent and child in after and parent in after:
            after[parent].add(child)
    return list(TopologicalSorter(after).static_order())


async def clear_shop(database_url: str, schemas: Sequence[str], shop_id: str) -> dict[str, int]:
    """Delete `shop_id`'s rows from every table of `schemas` that has a shop, in one transaction, as
    the administrative login; rows deleted per `schema.table`."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            tables = [
                (r["schema"], r["name"])
                for r in await conn.fetch(SHOP_TABLES, list(schemas))
                if r["name"] not in APPEND_ONLY
            ]
            references = [
                ((r["child_schema"], r["child"]), (r["parent_schema"], r["parent"]))
                for r in await conn.fetch(REFERENCES, list(schemas))
            ]
            deleted: dict[str, int] = {}
            for schema, name in deletion_order(tables, references):
                # Identifiers quoted by Postgres itself (format's %I), the shop bound as a parameter.
                statement = await conn.fetchval(
                    "SELECT format('DELETE FROM %I.%I WHERE shop_id = $1', $1::text, $2::text)", schema, name
                )
                status = await conn.execute(statement, shop_id)
                deleted[f"{schema}.{name}"] = int(status.split()[-1])
            return deleted
    finally:
        await conn.close()
