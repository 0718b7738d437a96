"""SQL of the per-shop delivery report: grouped counts and latency percentiles of the deliveries one
shop's endpoints queued in a period. Each reads the deliveries on (endpoint_id, created_at) (the
deliveries_by_endpoint index, given the shop's endpoint ids) and their attempts by delivery; the bucket
of a row is that of its delivery's queueing instant in the shop's zone (NULL without a granularity)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, bucket_sql

_BUCKET = bucket_sql("d.created_at", "$4", "$5")
_QUEUED_IN_PERIOD = """d.endpoint_id = ANY($6::text[]) AND d.shop_id = $1
    AND d.created_at >= $2 AND d.created_at < $3"""


def _args(shop_id: str, endpoint_ids: Sequence[str], period: Period) -> tuple[object, ...]:
    return (shop_id, period.since, period.until, period.granularity, period.zone, list(endpoint_ids))


async def delivery_counts(
    conn: Connection, shop_id: str, endpoint_ids: Sequence[str], period: Period
) -> list[asyncpg.Record]:
    """The period's deliveries by endpoint, event type, outcome (pending: queued or in flight) and
    bucket."""
    return await conn.fetch(
        f"""SELECT d.endpoint_id, d.event_type,
                   CASE WHEN d.status IN ('pending', 'delivering') THEN 'pending' ELSE d.status END
                       AS outcome,
                   {_BUCKET} AS bucket, count(*)::int AS n
            FROM deliveries d WHERE {_QUEUED_IN_PERIOD}
            GROUP BY 1, 2, 3, 4""",  # noqa: S608
        *_args(shop_id, endpoint_ids, period),
    )


async def attempt_counts(
    conn: Connection, shop_id: str, endpoint_ids: Sequence[str], period: Period
) -> list[asyncpg.Record]:
    """The attempts of the period's deliveries by endpoint, outcome and bucket."""
    return await conn.fetch(
        f"""SELECT d.endpoint_id, a.outcome, {_BUCKET} AS bucket, count(*)::int AS n
            FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
            WHERE {_QUEUED_IN_PERIOD}
            GROUP BY 1, 2, 3""",  # noqa: S608
        *_args(shop_id, endpoint_ids, period),
    )


async def latency_quantiles(
    conn: Connection, shop_id: str, endpoint_ids: Sequence[str], period: Period
) -> list[asyncpg.Record]:
    """p50, p90 and p99 of the seconds from a delivery's event time to the receiver's first 2xx (its
    earliest successful attempt's start plus duration; never below zero), over the period's delivered
    deliveries: overall and per bucket (`by_bucket` says which)."""
    return await conn.fetch(
        f"""WITH delivered AS (
                SELECT {_BUCKET} AS bucket,
                       greatest(0, extract(epoch FROM
                           min(a.attempted_at + a.latency_ms * interval '1 millisecond') - d.event_time
                       ))::float8 AS seconds
                FROM deliveries d JOIN attempts a ON a.delivery_id = d.id AND a.outcome = 'success'
                WHERE {_QUEUED_IN_PERIOD}
                GROUP BY d.id)
            SELECT bucket, GROUPING(bucket) = 0 AS by_bucket, count(*)::int AS n,
                   percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY seconds) AS q
            FROM delivered
            GROUP BY GROUPING SETS ((), (bucket))""",  # noqa: S608
        *_args(shop_id, endpoint_ids, period),
    )
