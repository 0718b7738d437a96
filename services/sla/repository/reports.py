"""SQL of the per-shop SLA report: grouped counts and percentiles of one shop's decided clocks and
promises in a period, each read on its own index (migrations/004_reports.sql); the bucket of a row is
that of its decision instant in the shop's zone (NULL without a granularity)."""

from __future__ import annotations

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, bucket_sql

CLOCK_DECIDED = "coalesce(breached_at, stopped_at)"
"""When a clock's outcome was decided: its breach instant, or its stop when met (the index's
expression)."""
PROMISE_DECIDED = "coalesce(breached_at, settled_at)"
"""When a promise was broken or kept (the index's expression)."""

_DECIDED_CLOCKS = f"""shop_id = $1 AND outcome IS NOT NULL
    AND {CLOCK_DECIDED} >= $2 AND {CLOCK_DECIDED} < $3"""


def _args(shop_id: str, period: Period) -> tuple[object, ...]:
    return (shop_id, period.since, period.until, period.granularity, period.zone)


async def clock_counts(conn: Connection, shop_id: str, period: Period) -> list[asyncpg.Record]:
    """Clocks decided in the period, by metric, policy, outcome and bucket."""
    bucket = bucket_sql(CLOCK_DECIDED, "$4", "$5")
    return await conn.fetch(
        f"""SELECT metric, policy_id, outcome, {bucket} AS bucket, count(*)::int AS n
            FROM clocks WHERE {_DECIDED_CLOCKS}
            GROUP BY 1, 2, 3, 4""",  # noqa: S608
        *_args(shop_id, period),
    )


async def breach_quantiles(conn: Connection, shop_id: str, period: Period) -> list[asyncpg.Record]:
    """p50 and p90 of the time to breach (seconds from start to breach) of the clocks breached in the
    period: overall, per metric, per policy and per bucket (the GROUPING flags say which)."""
    bucket = bucket_sql(CLOCK_DECIDED, "$4", "$5")
    return await conn.fetch(
        f"""SELECT metric, policy_id, bucket,
                   GROUPING(metric) = 0 AS by_metric, GROUPING(policy_id) = 0 AS by_policy,
                   GROUPING(bucket) = 0 AS by_bucket,
                   percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY seconds) AS q
            FROM (SELECT metric, policy_id, {bucket} AS bucket,
                         extract(epoch FROM breached_at - started_at)::float8 AS seconds
                  FROM clocks WHERE {_DECIDED_CLOCKS} AND outcome = 'breached') breached
            GROUP BY GROUPING SETS ((), (metric), (policy_id), (bucket))""",  # noqa: S608
        *_args(shop_id, period),
    )


async def escalation_counts(conn: Connection, shop_id: str, period: Period) -> list[asyncpg.Record]:
    """Escalation stages the clocks breached in the period have crossed (the first `stages_done` of
    their stages), by level and bucket of the breach."""
    bucket = bucket_sql(CLOCK_DECIDED, "$4", "$5")
    return await conn.fetch(
        f"""SELECT (stage ->> 'level')::int AS level, {bucket} AS bucket, count(*)::int AS n
            FROM clocks, jsonb_array_elements(stages) WITH ORDINALITY AS s (stage, position)
            WHERE {_DECIDED_CLOCKS} AND outcome = 'breached'
              AND s.position <= stages_done AND stage ->> 'kind' = 'escalation'
            GROUP BY 1, 2""",  # noqa: S608
        *_args(shop_id, period),
    )


async def promise_counts(conn: Connection, shop_id: str, period: Period) -> list[asyncpg.Record]:
    """Promises kept or broken in the period, by kind, status and bucket."""
    bucket = bucket_sql(PROMISE_DECIDED, "$4", "$5")
    return await conn.fetch(
        f"""SELECT kind, status, {bucket} AS bucket, count(*)::int AS n
            FROM promises
            WHERE shop_id = $1 AND status IN ('kept', 'breached')
              AND {PROMISE_DECIDED} >= $2 AND {PROMISE_DECIDED} < $3
            GROUP BY 1, 2, 3""",  # noqa: S608
        *_args(shop_id, period),
    )
