"""What a scenario asked of Postgres: its statements as pg_stat_statements counted them (calls, time
per call, rows), per service role, and the planner's statistics brought up to date before measuring.

pg_stat_statements is loaded by deploy/local/postgres.sh; against a Postgres without it the profile
says so instead of failing the report.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from runtime.settings import Settings

TOP = 8
"""Statements kept per profile, by total execution time."""


async def _admin(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(settings.database_url.get_secret_value())


async def analyze(settings: Settings, services: tuple[str, ...]) -> None:
    """ANALYZE the services' tables. Autovacuum does this within its first minute of a real shop; a
    bench run is shorter than its nap, and without statistics the plans cached by the service's
    connections over nearly empty tables can walk a whole shop's tickets (docs/benchmarks.md)."""
    conn = await _admin(settings)
    try:
        for name in services:
            schema = settings.for_service(name).db_schema
            tables = await conn.fetch(
                "SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables"
                " WHERE schemaname = $1",
                schema,
            )
            for table in tables:
                await conn.execute(f"ANALYZE {table['name']}")
    finally:
        await conn.close()


async def reset(settings: Settings) -> str | None:
    """Start counting afresh; the reason if pg_stat_statements cannot be had."""
    conn = await _admin(settings)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError as exc:
        return f"pg_stat_statements unavailable: {exc}"
    finally:
        await conn.close()
    return None


async def profile(settings: Settings, service: str, per: int | None = None) -> dict[str, Any]:
    """The service role's top statements since `reset`; `per` (e.g. requests served) adds calls per
    request, which is the round-trip count of each statement."""
    role = settings.for_service(service).db_role
    conn = await _admin(settings)
    try:
        rows = await conn.fetch(
            """SELECT s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows
               FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
               WHERE r.rolname = $1 ORDER BY s.total_exec_time DESC""",
            role,
        )
    except asyncpg.PostgresError as exc:
        return {"unavailable": str(exc)}
    finally:
        await conn.close()
    calls = sum(r["calls"] for r in rows)
    top = [
        {
            "statement": re.sub(r"\s+", " ", r["query"])[:140],
            "calls": r["calls"],
            "calls_per_request": round(r["calls"] / per, 2) if per else None,
            "total_ms": round(r["total_exec_time"], 1),
            "mean_ms": round(r["mean_exec_time"], 3),
            "rows": r["rows"],
        }
        for r in rows[:TOP]
    ]
    return {
        "statements_per_request": round(calls / per, 2) if per else None,
        "total_ms": round(sum(r["total_exec_time"] for r in rows), 1),
        "top": top,
    }
