"""The timer sweep's claim, one shape for clocks and promises."""

from __future__ import annotations


def claim_due(table: str, columns: str, due: str, reached: str) -> str:
    """The sweep's claim: running rows whose `due` column is `reached` ("<=" or "<") at $1, earliest
    first, at most $2. The partial index on (due) WHERE status = 'running' serves it, and rows another
    instance has locked are skipped (SKIP LOCKED), not waited for."""
    return (
        f"SELECT {columns} FROM {table} WHERE status = 'running' AND {due} {reached} $1"  # noqa: S608
        f" ORDER BY {due} LIMIT $2 FOR UPDATE SKIP LOCKED"
    )
