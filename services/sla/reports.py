"""Reads the grouped counts of a shop's SLA report and hands them to the pure builder."""

from __future__ import annotations

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, buckets
from services.sla import repository as repo
from services.sla.domain.reports import (
    BUCKET,
    METRIC,
    OVERALL,
    POLICY,
    BreachQuantiles,
    ClockCount,
    EscalationCount,
    PromiseCount,
    SlaReport,
    build_report,
)


def _quantiles(row: asyncpg.Record) -> BreachQuantiles:
    """One GROUPING SETS row: the set it belongs to names its dimension and key."""
    if row["by_metric"]:
        dimension, key = METRIC, row["metric"]
    elif row["by_policy"]:
        dimension, key = POLICY, row["policy_id"]
    elif row["by_bucket"]:
        dimension, key = BUCKET, row["bucket"]
    else:
        dimension, key = OVERALL, None
    p50, p90 = row["q"] or (None, None)  # the overall row of no breach at all
    return BreachQuantiles(dimension, key, p50, p90)


async def report(conn: Connection, shop_id: str, period: Period) -> SlaReport:
    clocks = [
        ClockCount(r["metric"], r["policy_id"], r["outcome"], r["n"], r["bucket"])
        for r in await repo.clock_counts(conn, shop_id, period)
    ]
    quantiles = [_quantiles(r) for r in await repo.breach_quantiles(conn, shop_id, period)]
    escalations = [
        EscalationCount(r["level"], r["n"], r["bucket"])
        for r in await repo.escalation_counts(conn, shop_id, period)
    ]
    promises = [
        PromiseCount(r["kind"], r["status"], r["n"], r["bucket"])
        for r in await repo.promise_counts(conn, shop_id, period)
    ]
    return build_report(clocks, quantiles, escalations, promises, buckets(period))
