"""Reads the grouped counts for a report and hands them to the pure report builder."""

from __future__ import annotations

from datetime import datetime

from runtime.db import Connection
from services.survey import repository
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.reports import InviteRow, Report, ScoreRow, build_report


async def report(conn: Connection, shop_id: str, kind: SurveyKind, start: datetime, end: datetime) -> Report:
    score_rows = [
        ScoreRow(r["channel"], r["category"], r["score"], r["n"])
        for r in await repository.score_counts(conn, shop_id, kind, start, end)
    ]
    invite_rows = [
        InviteRow(r["channel"], r["category"], r["invited"], r["answered"])
        for r in await repository.invitation_counts(conn, shop_id, kind, start, end)
    ]
    return build_report(kind, score_rows, invite_rows)
