"""What the privacy tests look for in the services' storage: every column of every table of the four
schemas that can hold a text, scanned for a customer's e-mail, name and texts; and the row counts
an erasure must leave as they were."""

from __future__ import annotations

import asyncpg

from runtime.settings import Settings
from tests.privacy.world import SERVICES, World

SKIPPED_TYPES = ("boolean", "integer", "bigint", "double precision", "numeric", "date", "smallint", "real")


async def scan(settings: Settings, needles: list[str]) -> list[str]:
    """Every column of every table of the four schemas holding text, JSON, arrays or bytes in which
    one of `needles` occurs (case-insensitively): "schema.table.column: rows"."""
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    found = []
    try:
        schemas = [settings.for_service(name).db_schema for name in SERVICES]
        columns = await conn.fetch(
            """SELECT c.table_schema, c.table_name, c.column_name, c.data_type
               FROM information_schema.columns c
               JOIN information_schema.tables t USING (table_schema, table_name)
               WHERE c.table_schema = ANY($1::text[]) AND t.table_type = 'BASE TABLE'
                 AND c.data_type NOT LIKE 'timestamp%' AND c.data_type <> ALL($2::text[])
               ORDER BY 1, 2, 3""",
            schemas,
            list(SKIPPED_TYPES),
        )
        assert len(columns) > 50  # the scan reads the schemas, not nothing
        for c in columns:
            column = f'"{c["table_schema"]}"."{c["table_name"]}"."{c["column_name"]}"'
            value = (
                f"lower(encode({column}, 'escape'))"
                if c["data_type"] == "bytea"
                else f"lower({column}::text)"
            )
            table = f'"{c["table_schema"]}"."{c["table_name"]}"'
            query = (
                "SELECT (SELECT substr(v, greatest(position(n IN v) - 120, 1), 300)"  # noqa: S608
                "        FROM unnest($1::text[]) AS n WHERE position(n IN v) > 0 LIMIT 1) AS sample"
                f" FROM (SELECT {value} AS v FROM {table}) AS t"
                " WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n WHERE position(n IN v) > 0)"
            )
            rows = await conn.fetch(query, [n.lower() for n in needles])
            if rows:
                # where, how many rows, and the text around the first find (what a failure must show)
                where = f"{c['table_schema']}.{c['table_name']}.{c['column_name']}"
                found.append(f"{where}: {len(rows)}: {rows[0]['sample']}")
    finally:
        await conn.close()
    return found


COUNTED = {
    "intake": ("tickets", "messages", "orders", "ignored_emails", "ticket_threads"),
    "sla": ("promises", "clocks", "tickets"),
    "notify": ("deliveries", "attempts", "email_sends"),
    "survey": ("invitations", "answers", "tickets", "decisions"),
}


async def row_counts(world: World) -> dict[str, int]:
    counts = {}
    for name, tables in COUNTED.items():
        for table in tables:
            query = f"SELECT count(*) AS n FROM {table}"  # noqa: S608
            counts[f"{name}.{table}"] = (await world.db(name).fetch(query))[0]["n"]
    return counts
