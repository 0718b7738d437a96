"""The agent report (`GET /v1/reports/agents`): first response and resolution times by agent and by
team over a period, from grouped figures the repository reads.

- first response: the tickets whose first public reply was written in the period, by the agent who
  wrote it (the reply made with their token) and by the ticket's team;
- resolution: the tickets solved in the period (their last solve), by the agent the ticket was
  assigned to and its team; seconds from the ticket's creation to the solve.
A ticket without an agent (a reply with the shop's key, an automatic answer, nobody assigned) or a
team counts under `none`, so the rows add up to the shop's totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NOBODY = "none"


@dataclass(frozen=True)
class Timing:
    count: int = 0
    mean_seconds: float | None = None
    p50_seconds: float | None = None
    p90_seconds: float | None = None


@dataclass(frozen=True)
class Grouped:
    """One group's figures as read: which measure, by agent or team, whose, and the timing."""

    measure: str
    """first_response | resolution"""
    by: str
    """agent | team"""
    key: str | None
    timing: Timing


@dataclass(frozen=True)
class Line:
    key: str
    name: str | None
    first_response: Timing = field(default_factory=Timing)
    resolution: Timing = field(default_factory=Timing)


@dataclass(frozen=True)
class AgentReport:
    by_agent: tuple[Line, ...]
    by_team: tuple[Line, ...]


def _lines(
    groups: Iterable[Grouped], listed: Mapping[str, str], former: Mapping[str, str]
) -> tuple[Line, ...]:
    found: dict[str, dict[str, Timing]] = {}
    for g in groups:
        found.setdefault(g.key or NOBODY, {})[g.measure] = g.timing
    names = {**former, **listed}
    # everyone listed is, with zeros when they did nothing in the period
    keys = sorted(set(found) | set(listed), key=lambda k: (k == NOBODY, (names.get(k) or k).lower(), k))
    return tuple(
        Line(
            key=key,
            name=names.get(key),
            first_response=found.get(key, {}).get("first_response", Timing()),
            resolution=found.get(key, {}).get("resolution", Timing()),
        )
        for key in keys
    )


def build_report(
    groups: Iterable[Grouped],
    agents: Mapping[str, str],
    teams: Mapping[str, str],
    former_agents: Mapping[str, str] | None = None,
) -> AgentReport:
    """The report from the grouped figures; `agents` and `teams` (id -> name) are the shop's active
    ones, listed even without figures; a deactivated agent (`former_agents`) only with figures."""
    groups = list(groups)
    return AgentReport(
        by_agent=_lines((g for g in groups if g.by == "agent"), agents, former_agents or {}),
        by_team=_lines((g for g in groups if g.by == "team"), teams, {}),
    )


CSV_COLUMNS = (
    "dimension",
    "key",
    "name",
    "first_responses",
    "first_response_mean_seconds",
    "first_response_p50_seconds",
    "first_response_p90_seconds",
    "solved",
    "resolution_mean_seconds",
    "resolution_p50_seconds",
    "resolution_p90_seconds",
)


def csv_rows(report: AgentReport) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for dimension, lines in (("agent", report.by_agent), ("team", report.by_team)):
        for line in lines:
            first, solved = line.first_response, line.resolution
            rows.append(
                {
                    "dimension": dimension,
                    "key": line.key,
                    "name": line.name,
                    "first_responses": first.count,
                    "first_response_mean_seconds": first.mean_seconds,
                    "first_response_p50_seconds": first.p50_seconds,
                    "first_response_p90_seconds": first.p90_seconds,
                    "solved": solved.count,
                    "resolution_mean_seconds": solved.mean_seconds,
                    "resolution_p50_seconds": solved.p50_seconds,
                    "resolution_p90_seconds": solved.p90_seconds,
                }
            )
    return rows
