"""Reads the grouped counts of a shop's delivery report and hands them to the pure builder."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, buckets
from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.reports import (
    AttemptCount,
    DeliveryCount,
    DeliveryReport,
    EndpointState,
    LatencyQuantiles,
    build_report,
)
from services.notify.repository import endpoints as endpoint_sql
from services.notify.repository import reports as sql


def _latency(row: asyncpg.Record) -> LatencyQuantiles:
    p50, p90, p99 = row["q"] or (None, None, None)  # the overall row of no delivery at all
    return LatencyQuantiles(row["bucket"] if row["by_bucket"] else None, row["n"], p50, p90, p99)


async def report(
    conn: Connection, shop_id: str, period: Period, breaker: BreakerPolicy, now: datetime
) -> DeliveryReport:
    endpoints = [
        EndpointState(
            e.id,
            e.url,
            e.enabled,
            e.disabled_reason,
            e.failing_since,
            e.breaker_failures,
            e.breaker_open_until,
        )
        for e in await endpoint_sql.list_endpoints(conn, shop_id)
    ]
    ids = [e.id for e in endpoints]
    deliveries = [
        DeliveryCount(r["endpoint_id"], r["event_type"], r["outcome"], r["n"], r["bucket"])
        for r in await sql.delivery_counts(conn, shop_id, ids, period)
    ]
    attempts = [
        AttemptCount(r["endpoint_id"], r["outcome"], r["n"], r["bucket"])
        for r in await sql.attempt_counts(conn, shop_id, ids, period)
    ]
    # Without a granularity the per-bucket set is one more row of bucket NULL: the overall one again.
    latency = [
        _latency(r)
        for r in await sql.latency_quantiles(conn, shop_id, ids, period)
        if not r["by_bucket"] or period.granularity is not None
    ]
    return build_report(deliveries, attempts, latency, endpoints, breaker, now, buckets(period))
