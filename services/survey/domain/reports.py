"""A report for one shop, kind and period, built from grouped counts: overall, per channel/category
of the originating ticket ("none" when the survey did not come from a ticket), per agent and team the
ticket had when it was solved ("none" without one), and, when a granularity was asked for, per
bucket of the period (every bucket listed, empty ones too)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from services.survey.domain import scores
from services.survey.domain.kinds import SurveyKind

NO_TICKET = "none"


@dataclass(frozen=True)
class ScoreRow:
    channel: str | None
    category: str | None
    score: int
    n: int
    bucket: date | None = None
    agent_id: str | None = None
    team_id: str | None = None


@dataclass(frozen=True)
class InviteRow:
    channel: str | None
    category: str | None
    invited: int
    answered: int
    bucket: date | None = None
    agent_id: str | None = None
    team_id: str | None = None


@dataclass(frozen=True)
class Figures:
    answers: int
    score: float | None
    invited: int
    answered_of_invited: int
    response_rate: float | None
    distribution: dict[int, int]


@dataclass(frozen=True)
class Report:
    kind: SurveyKind
    overall: Figures
    by_channel: dict[str, Figures] = field(default_factory=dict)
    by_category: dict[str, Figures] = field(default_factory=dict)
    trend: dict[date, Figures] = field(default_factory=dict)
    by_agent: dict[str, Figures] = field(default_factory=dict)
    by_team: dict[str, Figures] = field(default_factory=dict)


SCORE_FUNCTIONS: dict[SurveyKind, Callable[[scores.Histogram], float | None]] = {
    SurveyKind.NPS: scores.nps,
    SurveyKind.CSAT: scores.csat,
    SurveyKind.CES: scores.ces,
}


def _figures(kind: SurveyKind, score_rows: Iterable[ScoreRow], invite_rows: Iterable[InviteRow]) -> Figures:
    counts: Counter[int] = Counter()
    for row in score_rows:
        counts[row.score] += row.n
    invited = answered = 0
    for inv in invite_rows:
        invited += inv.invited
        answered += inv.answered
    return Figures(
        answers=scores.total(counts),
        score=SCORE_FUNCTIONS[kind](counts),
        invited=invited,
        answered_of_invited=answered,
        response_rate=scores.response_rate(answered, invited),
        distribution=dict(sorted(counts.items())),
    )


def _group(
    kind: SurveyKind,
    score_rows: list[ScoreRow],
    invite_rows: list[InviteRow],
    key: Callable[[ScoreRow | InviteRow], str | None],
) -> dict[str, Figures]:
    rows: list[ScoreRow | InviteRow] = [*score_rows, *invite_rows]
    names = sorted({key(r) or NO_TICKET for r in rows})
    return {
        name: _figures(
            kind,
            [r for r in score_rows if (key(r) or NO_TICKET) == name],
            [r for r in invite_rows if (key(r) or NO_TICKET) == name],
        )
        for name in names
    }


def build_report(
    kind: SurveyKind,
    score_rows: list[ScoreRow],
    invite_rows: list[InviteRow],
    buckets: list[date] | None = None,
) -> Report:
    return Report(
        kind=kind,
        overall=_figures(kind, score_rows, invite_rows),
        by_channel=_group(kind, score_rows, invite_rows, lambda r: r.channel),
        by_category=_group(kind, score_rows, invite_rows, lambda r: r.category),
        by_agent=_group(kind, score_rows, invite_rows, lambda r: r.agent_id),
        by_team=_group(kind, score_rows, invite_rows, lambda r: r.team_id),
        trend={
            bucket: _figures(
                kind,
                [r for r in score_rows if r.bucket == bucket],
                [r for r in invite_rows if r.bucket == bucket],
            )
            for bucket in buckets or []
        },
    )
