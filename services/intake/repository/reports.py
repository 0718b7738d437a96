"""SQL of a shop's intake report: grouped counts and percentiles of one shop's rows in a period, each
read on an index leading with the shop and the instant it counts by (migration 051), all of them from
one snapshot.

A row's bucket is found by `width_bucket` among the buckets' first instants (runtime.reports.buckets,
each local day, week or month start of the shop's zone as an instant), the same bucket as
runtime.reports.bucket_sql would give: comparing an instant with a sorted array costs a large shop's
year of rows far less than converting each to local time (NULL without a granularity)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, buckets

from ..domain.reports import (
    AGE_EDGES,
    ContactCount,
    Counts,
    Durations,
    TicketCount,
    WismoCount,
    age_bucket,
)

UNFINISHED = "('open', 'pending', 'on_hold')"
FINISHED_AT = "coalesce(solved_at, closed_at)"
"""When a solved or closed ticket was finished: its (last) solve, else its close (the index's
expression)."""


WORK_MEM = "64MB"
"""Room for a year of a large shop's durations to be sorted in memory (percentiles), not on disk."""


class Buckets:
    """The period's buckets: their first instants for width_bucket, and the bucket of its answer."""

    def __init__(self, period: Period) -> None:
        self.starts = buckets(period)
        zone = ZoneInfo(period.zone)
        self.bounds = [datetime.combine(d, time(), tzinfo=zone) for d in self.starts] or None

    def sql(self, column: str) -> str:
        """The 1-based bucket of `column` ($4: the bounds; NULL without a granularity)."""
        return f"width_bucket({column}, $4::timestamptz[])"

    def of(self, index: int | None) -> date | None:
        return self.starts[index - 1] if index else None


def _args(shop_id: str, period: Period, b: Buckets) -> tuple[object, ...]:
    return (shop_id, period.since, period.until, b.bounds)


async def contact_counts(conn: Connection, shop_id: str, period: Period) -> list[ContactCount]:
    """Customers' messages received in the period, by channel, their ticket's category and bucket."""
    b = Buckets(period)
    rows = await conn.fetch(
        f"""SELECT coalesce(m.channel, t.channel) AS channel, t.category, {b.sql("m.at")} AS bucket,
                   count(*)::int AS n
            FROM messages m JOIN tickets t ON t.id = m.ticket_id AND t.shop_id = m.shop_id
            WHERE m.shop_id = $1 AND m.at >= $2 AND m.at < $3 AND m.author = 'customer'
            GROUP BY 1, 2, 3""",  # noqa: S608
        *_args(shop_id, period, b),
    )
    return [ContactCount(r["channel"], r["category"], r["n"], b.of(r["bucket"])) for r in rows]


async def ticket_counts(conn: Connection, shop_id: str, period: Period) -> list[TicketCount]:
    """Tickets opened in the period, and the repeat contacts among them, by channel, category, bucket."""
    b = Buckets(period)
    rows = await conn.fetch(
        f"""SELECT channel, category, {b.sql("created_at")} AS bucket, count(*)::int AS n,
                   (count(*) FILTER (WHERE is_repeat))::int AS repeats
            FROM tickets WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3
            GROUP BY 1, 2, 3""",  # noqa: S608
        *_args(shop_id, period, b),
    )
    return [TicketCount(r["channel"], r["category"], r["n"], r["repeats"], b.of(r["bucket"])) for r in rows]


def _sets(period: Period) -> tuple[str, str]:
    """(the bucket columns, the grouping): the overall row, and one per bucket with a granularity
    (each set sorts its own rows: without a granularity a bucket set would only sort them all again)."""
    if period.granularity is None:
        return "NULL::int AS bucket, false AS by_bucket", ""
    return "bucket, GROUPING(bucket) = 0 AS by_bucket", "GROUP BY GROUPING SETS ((), (bucket))"


def _durations(rows: list[asyncpg.Record], b: Buckets) -> list[Durations]:
    """GROUPING SETS rows: the overall one (bucket None) and, with a granularity, one per bucket."""
    out = []
    for r in rows:
        p50, p90 = r["q"] or (None, None)
        out.append(
            Durations(
                b.of(r["bucket"]) if r["by_bucket"] else None,
                r["n"],
                p50,
                p90,
                r.get("fcr", 0),
                r.get("fcr_known", 0),
                r.get("reopened", 0),
            )
        )
    return out


async def first_responses(conn: Connection, shop_id: str, period: Period) -> list[Durations]:
    """First responses written in the period: how many, and p50/p90 of the seconds from the ticket's
    opening, overall and per bucket."""
    b = Buckets(period)
    columns, grouping = _sets(period)
    rows = await conn.fetch(
        f"""SELECT {columns}, count(*)::int AS n,
                   percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY seconds) AS q
            FROM (SELECT {b.sql("first_response_at")} AS bucket,
                         extract(epoch FROM first_response_at - created_at)::float8 AS seconds
                  FROM tickets
                  WHERE shop_id = $1 AND first_response_at >= $2 AND first_response_at < $3) answered
            {grouping}""",  # noqa: S608
        *_args(shop_id, period, b),
    )
    return _durations(rows, b)


async def resolutions(conn: Connection, shop_id: str, period: Period) -> list[Durations]:
    """Tickets solved in the period (their last solve): how many, p50/p90 of the seconds from their
    opening, how many first-contact resolutions (of those whose FCR is known) and how many had been
    reopened, overall and per bucket."""
    b = Buckets(period)
    columns, grouping = _sets(period)
    rows = await conn.fetch(
        f"""SELECT {columns}, count(*)::int AS n,
                   percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY seconds) AS q,
                   (count(*) FILTER (WHERE fcr))::int AS fcr, count(fcr)::int AS fcr_known,
                   (count(*) FILTER (WHERE reopen_count > 0))::int AS reopened
            FROM (SELECT {b.sql("solved_at")} AS bucket,
                         extract(epoch FROM solved_at - created_at)::float8 AS seconds,
                         fcr, reopen_count
                  FROM tickets WHERE shop_id = $1 AND solved_at >= $2 AND solved_at < $3) solved
            {grouping}""",  # noqa: S608
        *_args(shop_id, period, b),
    )
    return _durations(rows, b)


async def wismo_counts(conn: Connection, shop_id: str, period: Period) -> list[WismoCount]:
    """The "where is my order?" questions asked in the period, their automatic answers and what
    became of them, by bucket."""
    b = Buckets(period)
    rows = await conn.fetch(
        f"""SELECT {b.sql("at")} AS bucket, count(*)::int AS questions,
                   (count(*) FILTER (WHERE answer_message_id IS NOT NULL))::int AS answered,
                   (count(*) FILTER (WHERE outcome = 'deflected'))::int AS deflected,
                   (count(*) FILTER (WHERE outcome = 'came_back'))::int AS came_back
            FROM wismo_contacts WHERE shop_id = $1 AND at >= $2 AND at < $3
            GROUP BY 1""",  # noqa: S608
        *_args(shop_id, period, b),
    )
    return [
        WismoCount(r["questions"], r["answered"], r["deflected"], r["came_back"], b.of(r["bucket"]))
        for r in rows
    ]


async def backlog(conn: Connection, shop_id: str, period: Period) -> dict[str, int]:
    """The tickets open at the period's end, by age then: opened before it, and unfinished now or
    finished (last solved, else closed) at or after it."""
    edges = [edge.total_seconds() for edge, _ in AGE_EDGES]
    rows = await conn.fetch(
        f"""SELECT width_bucket(extract(epoch FROM $2 - created_at)::float8, $3::float8[]) AS age,
                   count(*)::int AS n
            FROM (SELECT created_at FROM tickets
                  WHERE shop_id = $1 AND status IN {UNFINISHED} AND created_at < $2
                  UNION ALL
                  SELECT created_at FROM tickets
                  WHERE shop_id = $1 AND status IN ('solved', 'closed') AND {FINISHED_AT} >= $2
                    AND created_at < $2) open_then
            GROUP BY 1""",  # noqa: S608
        shop_id,
        period.until,
        edges,
    )
    return {age_bucket(r["age"]): r["n"] for r in rows}


async def counts(conn: Connection, shop_id: str, period: Period) -> Counts:
    """Every count of the report from one snapshot (the figures agree with each other), each statement
    planned for its own shop and period: a generic plan, made once for any shop and any period, reads a
    large shop's year the way it would read a small shop's week."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(
            f"SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '{WORK_MEM}'"
        )
        return await _counts(conn, shop_id, period)


async def _counts(conn: Connection, shop_id: str, period: Period) -> Counts:
    return Counts(
        contacts=await contact_counts(conn, shop_id, period),
        tickets=await ticket_counts(conn, shop_id, period),
        first_responses=await first_responses(conn, shop_id, period),
        resolutions=await resolutions(conn, shop_id, period),
        wismo=await wismo_counts(conn, shop_id, period),
        backlog=await backlog(conn, shop_id, period),
    )
