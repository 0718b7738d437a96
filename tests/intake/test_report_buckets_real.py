"""The intake report finds a row's bucket by comparing its instant with the buckets' first instants
(repository/reports.py `Buckets`, width_bucket); on the real Postgres that is the bucket
runtime.reports.bucket_sql gives (the shop's local day, ISO week or month), in zones whose clocks jump
at midnight, by half an hour or not at all, across their DST changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from runtime.reports import Granularity, bucket_sql, bucket_start, period_of
from runtime.settings import Settings
from services.intake.repository.reports import Buckets

ZONES = (
    "Europe/Warsaw",
    "America/New_York",
    "America/Santiago",  # DST changes at midnight: a day may start at 01:00
    "Australia/Lord_Howe",  # a half-hour DST change
    "Asia/Kolkata",  # +05:30, no DST
    "Pacific/Chatham",  # +12:45 / +13:45
)


@pytest.mark.parametrize("zone", ZONES)
async def test_every_instant_falls_in_the_bucket_postgres_gives_it(pg_infra: Settings, zone: str) -> None:
    rng = random.Random(zone)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    conn = await asyncpg.connect(pg_infra.database_url.get_secret_value())
    try:
        for granularity in Granularity:
            period = period_of("2024-11-01", "2026-05-15", granularity, zone, now)
            span = (period.until - period.since).total_seconds()
            instants = [period.since + timedelta(seconds=rng.uniform(0, span)) for _ in range(3000)]
            instants += [period.since, period.until - timedelta(microseconds=1)]
            b = Buckets(period)
            rows = await conn.fetch(
                f"""SELECT x, {b.sql("x")} AS ours, {bucket_sql("x", "$2", "$3")} AS theirs
                    FROM unnest($1::timestamptz[]) AS x""",  # noqa: S608
                instants,
                granularity.value,
                zone,
                b.bounds,
            )
            for row in rows:
                assert b.of(row["ours"]) == row["theirs"] == bucket_start(row["x"], granularity, zone), row
    finally:
        await conn.close()


def test_without_a_granularity_there_are_no_buckets() -> None:
    period = period_of("2026-03-02", "2026-03-05", None, "Europe/Warsaw", datetime(2026, 3, 9, tzinfo=UTC))
    assert (Buckets(period).bounds, Buckets(period).of(None)) == (None, None)
