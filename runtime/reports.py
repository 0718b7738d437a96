"""What every service's per-shop report shares: the period asked for (`from`/`to`, read in the shop's
time zone), an optional trend granularity (day, week, month), and the answer as JSON or as CSV
(`Accept: text/csv` or `?format=csv`) so a shop can open it in a spreadsheet.

The period and the buckets are pure (time passed in); SQL buckets with `bucket_sql` so the database
and `bucket_start` agree on where a day, week (ISO, from Monday) or month begins in the shop's zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from runtime.http_api import ApiError

DEFAULT_DAYS = 30
MAX_BUCKETS = 1000
"""A trend longer than this is refused: ask for a coarser granularity or a shorter period."""


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    since: datetime
    """Inclusive."""
    until: datetime
    """Exclusive."""
    zone: str
    granularity: Granularity | None = None


def _instant(value: str, zone: ZoneInfo) -> datetime:
    """An ISO date (midnight in the shop's zone) or an ISO date-time (in the shop's zone if it has no
    offset)."""
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=zone)
    except ValueError:
        parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def period_of(
    start: str | None, end: str | None, granularity: Granularity | None, zone: str, now: datetime
) -> Period:
    """[since, until) from the query; by default the last DEFAULT_DAYS days up to and including now.
    ValueError (with a message for the caller) when unreadable, empty or too many buckets."""
    tz = ZoneInfo(zone)
    try:
        until = _instant(end, tz) if end else now + timedelta(microseconds=1)
        since = _instant(start, tz) if start else until - timedelta(days=DEFAULT_DAYS)
    except ValueError as exc:
        raise ValueError(f"from/to must be ISO dates or date-times: {exc}") from exc
    if since >= until:
        raise ValueError("from must be before to")
    period = Period(since.astimezone(UTC), until.astimezone(UTC), zone, granularity)
    if granularity is not None and len(buckets(period)) > MAX_BUCKETS:
        raise ValueError(f"more than {MAX_BUCKETS} {granularity.value}s: use a coarser granularity")
    return period


def bucket_start(at: datetime, granularity: Granularity, zone: str) -> date:
    """The first local day of the bucket `at` falls in, in the shop's zone."""
    local = at.astimezone(ZoneInfo(zone)).date()
    if granularity is Granularity.WEEK:
        return local - timedelta(days=local.weekday())
    if granularity is Granularity.MONTH:
        return local.replace(day=1)
    return local


def buckets(period: Period) -> list[date]:
    """Every bucket the period touches, in order (a trend lists empty buckets too)."""
    if period.granularity is None:
        return []
    first = bucket_start(period.since, period.granularity, period.zone)
    last = bucket_start(period.until - timedelta(microseconds=1), period.granularity, period.zone)
    out = [first]
    while out[-1] < last:
        out.append(_next(out[-1], period.granularity))
    return out


def _next(start: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def bucket_sql(column: str, granularity_param: str, zone_param: str) -> str:
    """SQL for the bucket of a timestamptz column: the first local day, as a date (matches
    bucket_start; date_trunc('week') starts on Monday, as ISO weeks do)."""
    return f"date_trunc({granularity_param}, {column} AT TIME ZONE {zone_param})::date"


def as_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV with a header; None is an empty cell, numbers as Python writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


# -- the HTTP side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    start: str | None
    end: str | None
    granularity: Granularity | None
    csv: bool

    def period(self, zone: str, now: datetime) -> Period:
        try:
            return period_of(self.start, self.end, self.granularity, zone, now)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc


async def report_query(
    request: Request,
    start: Annotated[
        str | None,
        Query(
            alias="from", description="ISO date or date-time, in the shop's time zone (default: 30 days ago)"
        ),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", description="ISO date or date-time, exclusive (default: now)")
    ] = None,
    granularity: Annotated[
        Granularity | None, Query(description="adds a trend: one bucket per day, week or month")
    ] = None,
    output: Annotated[
        str | None, Query(alias="format", pattern="^(json|csv)$", description="csv: the rows as CSV")
    ] = None,
) -> ReportQuery:
    accepts_csv = "text/csv" in request.headers.get("accept", "")
    return ReportQuery(start, end, granularity, output == "csv" or (output is None and accepts_csv))


ReportParams = Annotated[ReportQuery, Depends(report_query)]


def report_response(
    query: ReportQuery, body: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> Response:
    """The report as JSON (`body`), or its `rows` as CSV when asked for."""
    if query.csv:
        return Response(as_csv(rows, columns), media_type="text/csv; charset=utf-8")
    return JSONResponse(body)
