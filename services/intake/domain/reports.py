"""A shop's intake report, built from grouped counts without I/O (docs/intake.md "The intake report").

Every figure is about what happened in the period [from, to), each at its own instant: a contact is a
customer's message received then (by its channel and its ticket's category), a ticket counts when it
was opened (a repeat contact is a ticket opened then that repeats an earlier one), a first response
when it was written, a resolution when the ticket was (last) solved; FCR and the reopen rate are
shares of the tickets solved in the period; the automatic answers are those of the "where is my
order?" questions asked in the period, and deflection their share that settled the matter. The
percentiles come from the database. The backlog is the tickets open at `to`, by their age then. With
a granularity each figure but the backlog is also given per bucket (every bucket of the period, empty
ones too), and the buckets' counts add up to the totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.reports import percent

AGE_EDGES: tuple[tuple[timedelta, str], ...] = (
    (timedelta(days=1), "under_1d"),
    (timedelta(days=3), "1d_to_3d"),
    (timedelta(days=7), "3d_to_7d"),
    (timedelta(days=30), "7d_to_30d"),
)
OLDEST = "30d_and_more"
AGE_BUCKETS: tuple[str, ...] = (*(label for _, label in AGE_EDGES), OLDEST)
"""The backlog's age buckets, youngest first: a ticket falls in the first whose edge its age is under."""


def age_bucket(index: int) -> str:
    """The label of SQL's width_bucket(age, AGE_EDGES) (0: under the first edge)."""
    return AGE_BUCKETS[index]


@dataclass(frozen=True)
class ContactCount:
    channel: str
    category: str
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class TicketCount:
    channel: str
    category: str
    n: int
    repeats: int
    bucket: date | None = None


@dataclass(frozen=True)
class Durations:
    """One GROUPING SETS row of first responses or resolutions: overall (bucket None) or one bucket."""

    bucket: date | None
    n: int
    p50: float | None
    p90: float | None
    fcr: int = 0
    fcr_known: int = 0
    reopened: int = 0


@dataclass(frozen=True)
class WismoCount:
    questions: int
    answered: int
    deflected: int
    came_back: int
    bucket: date | None = None


@dataclass(frozen=True)
class Timing:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Resolution:
    solved: int
    p50_seconds: float | None
    p90_seconds: float | None
    fcr: int
    fcr_percent: float | None
    """Of the solved tickets whose FCR is known."""
    reopened: int
    reopen_rate_percent: float | None
    """Of the solved tickets: those reopened at least once before."""


@dataclass(frozen=True)
class Automatic:
    questions: int
    answered: int
    deflected: int
    came_back: int
    deflection_percent: float | None
    """Of the answered questions: those whose answer settled the matter."""


@dataclass(frozen=True)
class Figures:
    contacts: int
    tickets: int
    repeat_contacts: int
    repeat_percent: float | None
    first_response: Timing
    resolution: Resolution
    automatic: Automatic


@dataclass(frozen=True)
class IntakeReport:
    overall: Figures
    contacts_by_channel: dict[str, int] = field(default_factory=dict)
    contacts_by_category: dict[str, int] = field(default_factory=dict)
    tickets_by_channel: dict[str, int] = field(default_factory=dict)
    tickets_by_category: dict[str, int] = field(default_factory=dict)
    backlog_by_age: dict[str, int] = field(default_factory=dict)
    trend: dict[date, Figures] = field(default_factory=dict)

    @property
    def backlog(self) -> int:
        return sum(self.backlog_by_age.values())


def _sum_by(rows: Iterable[ContactCount | TicketCount], key: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[getattr(row, key)] += row.n
    return dict(sorted(totals.items()))


def _timing(row: Durations | None) -> Timing:
    return Timing(0, None, None) if row is None else Timing(row.n, row.p50, row.p90)


def _resolution(row: Durations | None) -> Resolution:
    if row is None:
        return Resolution(0, None, None, 0, None, 0, None)
    return Resolution(
        row.n,
        row.p50,
        row.p90,
        row.fcr,
        percent(row.fcr, row.fcr_known),
        row.reopened,
        percent(row.reopened, row.n),
    )


def _automatic(rows: Iterable[WismoCount]) -> Automatic:
    rows = list(rows)
    answered = sum(r.answered for r in rows)
    deflected = sum(r.deflected for r in rows)
    return Automatic(
        sum(r.questions for r in rows),
        answered,
        deflected,
        sum(r.came_back for r in rows),
        percent(deflected, answered),
    )


@dataclass(frozen=True)
class Counts:
    """Everything the database counted for one report."""

    contacts: list[ContactCount]
    tickets: list[TicketCount]
    first_responses: list[Durations]
    resolutions: list[Durations]
    wismo: list[WismoCount]
    backlog: dict[str, int]


def _figures(counts: Counts, bucket: date | None, everything: bool) -> Figures:
    """The figures of one bucket (or, `everything`, of the whole period: every row counts)."""

    def mine(row_bucket: date | None) -> bool:
        return everything or row_bucket == bucket

    tickets = [r for r in counts.tickets if mine(r.bucket)]
    created = sum(r.n for r in tickets)
    repeats = sum(r.repeats for r in tickets)
    first = {r.bucket: r for r in counts.first_responses}
    solved = {r.bucket: r for r in counts.resolutions}
    return Figures(
        contacts=sum(r.n for r in counts.contacts if mine(r.bucket)),
        tickets=created,
        repeat_contacts=repeats,
        repeat_percent=percent(repeats, created),
        first_response=_timing(first.get(None if everything else bucket)),
        resolution=_resolution(solved.get(None if everything else bucket)),
        automatic=_automatic(r for r in counts.wismo if mine(r.bucket)),
    )


def build_report(counts: Counts, buckets: list[date] | None = None) -> IntakeReport:
    """The report of a period from its counts: the durations' rows hold the overall percentiles
    (bucket None) and each bucket's; the other rows are per bucket (None without a granularity)."""
    return IntakeReport(
        overall=_figures(counts, None, everything=True),
        contacts_by_channel=_sum_by(counts.contacts, "channel"),
        contacts_by_category=_sum_by(counts.contacts, "category"),
        tickets_by_channel=_sum_by(counts.tickets, "channel"),
        tickets_by_category=_sum_by(counts.tickets, "category"),
        backlog_by_age={label: counts.backlog.get(label, 0) for label in AGE_BUCKETS},
        trend={bucket: _figures(counts, bucket, everything=False) for bucket in buckets or []},
    )
