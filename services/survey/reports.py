"""Reads the grouped counts for a report and hands them to the pure report builder."""

from __future__ import annotations

from runtime.db import Connection
from runtime.reports import Period, buckets
from services.survey import repository
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.reports import InviteRow, Report, ScoreRow, build_report


async def report(conn: Connection, shop_id: str, kind: SurveyKind, period: Period) -> Report:
    score_rows = [
        ScoreRow(r["channel"], r["category"], r["score"], r["n"], r["bucket"], r["agent_id"], r["team_id"])
        for r in await repository.score_counts(conn, shop_id, kind, period)
    ]
    invite_rows = [
        InviteRow(
            r["channel"], r["category"], r["invited"], r["answered"], r["bucket"], r["agent_id"], r["team_id"]
        )
        for r in await repository.invitation_counts(conn, shop_id, kind, period)
    ]
    return build_report(kind, score_rows, invite_rows, buckets(period))
