"""The database buckets timestamps where runtime.reports does: bucket_sql on the real Postgres against
bucket_start, across zones and daylight-saving changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.reports import Granularity, bucket_sql, bucket_start
from runtime.settings import Settings

pytestmark = pytest.mark.postgres

ZONES = ["Europe/Warsaw", "Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]


async def test_sql_and_python_agree_on_every_bucket(pg_infra: Settings) -> None:
    rng = random.Random(16)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    instants = [start + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60)) for _ in range(500)]
    # the hours around Warsaw's and New York's clock changes, where a local day is 23 or 25 hours
    instants += [datetime(2026, 3, 29, 0, 30, tzinfo=UTC) + timedelta(minutes=15 * n) for n in range(12)]
    instants += [datetime(2026, 11, 1, 3, 0, tzinfo=UTC) + timedelta(minutes=15 * n) for n in range(24)]
    conn = await asyncpg.connect(pg_infra.database_url.get_secret_value())
    try:
        for zone in ZONES:
            for granularity in Granularity:
                bucket = bucket_sql("at", "$2", "$3")
                rows = await conn.fetch(
                    f"SELECT at, {bucket} AS bucket FROM unnest($1::timestamptz[]) AS at",  # noqa: S608
                    instants,
                    granularity.value,
                    zone,
                )
                wrong = [
                    (r["at"], r["bucket"])
                    for r in rows
                    if r["bucket"] != bucket_start(r["at"], granularity, zone)
                ]
                assert wrong == [], (zone, granularity)
    finally:
        await conn.close()
