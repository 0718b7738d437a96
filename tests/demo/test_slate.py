"""The demo's clean slate: the demo shop's rows go from every table with a shop, referencing tables
first; other shops' rows and other schemas stay. On the real PostgreSQL with tables of the test's own
(the services' own tables are cleared in test_demo_real.py)."""

from __future__ import annotations

import asyncpg
from hypothesis import given
from hypothesis import strategies as st

from demo.config import DemoSettings
from demo.run import fresh_start
from demo.slate import clear_shop, deletion_order
from runtime.settings import Settings


@given(st.integers(1, 12), st.data())
def test_a_referencing_table_is_cleared_before_the_table_it_references(n: int, data: st.DataObject) -> None:
    tables = [("s", f"t{i}") for i in range(n)]
    # references from a later table to an earlier one only (a schema cannot be created with a cycle),
    # plus a table referencing itself
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    drawn = data.draw(st.lists(pairs, max_size=3 * n))
    references = [(tables[max(a, b)], tables[min(a, b)]) for a, b in drawn]
    order = deletion_order(data.draw(st.permutations(tables)), references)
    assert sorted(order) == sorted(tables)
    for child, parent in references:
        if child != parent:
            assert order.index(child) < order.index(parent)


SCHEMA = """
CREATE TABLE {s}.orders (id text PRIMARY KEY, shop_id text NOT NULL);
CREATE TABLE {s}.tickets (
    id text PRIMARY KEY, shop_id text NOT NULL,
    order_id text REFERENCES {s}.orders (id),
    merged_into text REFERENCES {s}.tickets (id));
CREATE TABLE {s}.attempts (
    id serial PRIMARY KEY, ticket_id text REFERENCES {s}.tickets (id) ON DELETE CASCADE);
CREATE TABLE {s}.outbox (id serial PRIMARY KEY, payload text);
CREATE TABLE {other}.tickets (id text PRIMARY KEY, shop_id text NOT NULL);
"""
ROWS = """
INSERT INTO {s}.orders VALUES ('o1', 'demo'), ('o2', 'other');
INSERT INTO {s}.tickets
VALUES ('t1', 'demo', 'o1', NULL), ('t2', 'demo', 'o1', 't1'), ('t3', 'other', 'o2', NULL);
INSERT INTO {s}.attempts (ticket_id) VALUES ('t1'), ('t3');
INSERT INTO {s}.outbox (payload) VALUES ('x');
INSERT INTO {other}.tickets VALUES ('t9', 'demo');
"""


async def counts(conn: asyncpg.Connection[asyncpg.Record], s: str, other: str) -> dict[str, int]:
    out = {}
    for table in (f"{s}.orders", f"{s}.tickets", f"{s}.attempts", f"{s}.outbox", f"{other}.tickets"):
        out[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
    return out


async def test_the_demo_shops_rows_go_and_everything_else_stays(pg_infra: Settings) -> None:
    s, other = f"{pg_infra.schema_prefix}intake", f"{pg_infra.schema_prefix}elsewhere"
    url = pg_infra.database_url.get_secret_value()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {s}; CREATE SCHEMA {other};")
        await conn.execute(SCHEMA.format(s=s, other=other))
        await conn.execute(ROWS.format(s=s, other=other))
        deleted = await clear_shop(url, [s], "demo")
        assert deleted == {f"{s}.tickets": 2, f"{s}.orders": 1}
        assert await counts(conn, s, other) == {
            f"{s}.orders": 1,
            f"{s}.tickets": 1,
            f"{s}.attempts": 1,  # t1's went with it (ON DELETE CASCADE), t3's stays
            f"{s}.outbox": 1,  # no shop: not the demo shop's to delete
            f"{other}.tickets": 1,  # a schema the demo was not given
        }
        assert await conn.fetchval(f"SELECT shop_id FROM {s}.tickets") == "other"  # noqa: S608
        assert await clear_shop(url, [s], "demo") == {f"{s}.tickets": 0, f"{s}.orders": 0}
    finally:
        await conn.close()


async def test_keeping_the_data_deletes_nothing(pg_infra: Settings) -> None:
    s = f"{pg_infra.schema_prefix}intake"
    conn = await asyncpg.connect(pg_infra.database_url.get_secret_value())
    try:
        await conn.execute(f"CREATE SCHEMA {s}; CREATE TABLE {s}.tickets (id text, shop_id text);")
        await conn.execute(f"INSERT INTO {s}.tickets VALUES ('t1', 'demo-shop')")  # noqa: S608
        kept = await fresh_start(pg_infra, DemoSettings(shop_id="demo-shop", keep_data=True))
        assert kept == "careloop: the data of demo-shop's earlier runs is kept (DEMO_KEEP_DATA=1)"
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.tickets") == 1  # noqa: S608
        said = await fresh_start(pg_infra, DemoSettings(shop_id="demo-shop"))
        assert said == (
            "careloop: a clean slate for demo-shop: 1 row of earlier runs deleted "
            "(DEMO_KEEP_DATA=1 keeps them)"
        )
        assert await conn.fetchval(f"SELECT count(*) FROM {s}.tickets") == 0  # noqa: S608
    finally:
        await conn.close()
