"""SQL of the agent report: one shop's first responses and solves in a period, grouped by agent and
by team at once (GROUPING SETS), with the mean and the p50/p90 of their seconds."""

from __future__ import annotations

from runtime.db import Connection
from runtime.reports import Period

from ..domain.agent_report import Grouped, Timing

_TIMINGS = """SELECT GROUPING({agent}) AS by_team, {agent} AS agent, team_id,
                     count(*)::int AS n, avg(seconds) AS mean,
                     percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY seconds) AS q
              FROM (SELECT {agent}, team_id, extract(epoch FROM {at} - created_at)::float8 AS seconds
                    FROM tickets
                    WHERE shop_id = $1 AND {at} >= $2 AND {at} < $3) AS t
              GROUP BY GROUPING SETS (({agent}), (team_id))"""

FIRST_RESPONSES = _TIMINGS.format(agent="first_response_agent_id", at="first_response_at")
"""Tickets whose first response was written in the period: by its writer and by the ticket's team."""
RESOLUTIONS = _TIMINGS.format(agent="assignee_agent_id", at="solved_at")
"""Tickets solved in the period (solved_at is the last solve): by their agent and their team."""


async def timings(conn: Connection, shop_id: str, period: Period) -> list[Grouped]:
    found = []
    for measure, query in (("first_response", FIRST_RESPONSES), ("resolution", RESOLUTIONS)):
        for r in await conn.fetch(query, shop_id, period.since, period.until):
            p50, p90 = r["q"] or (None, None)
            by_team = bool(r["by_team"])
            found.append(
                Grouped(
                    measure=measure,
                    by="team" if by_team else "agent",
                    key=r["team_id"] if by_team else r["agent"],
                    timing=Timing(r["n"], r["mean"], p50, p90),
                )
            )
    return found
