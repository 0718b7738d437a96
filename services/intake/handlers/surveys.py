"""Survey answers (`survey.events`): each kept once per survey, so a customer's NPS, CSAT and CES show
in their Customer 360 and whether they are a detractor travels with their tickets; an unhappy answer
also opens a follow-up ticket (upstream.on_survey_detractor)."""

from __future__ import annotations

from typing import Any

from runtime.db import Connection
from schemas.envelope import CloudEvent
from schemas.v1.surveys import SurveyAnswered, SurveyDetractor

from ..context import Context
from ..repository import customers
from .upstream import on_survey_detractor
from .writes import known_shop


async def _record(conn: Connection, answer: customers.AnswerRow, *told: customers.Whose) -> None:
    """Keep the answer, then refresh the standing on the tickets of whoever it is about."""
    await customers.record_answer(conn, answer)
    found = await customers.answering_customers(conn, answer.shop_id, answer.ticket_id, answer.order_id)
    await customers.refresh_standings(conn, [*found, *told])


async def on_survey_answered(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: SurveyAnswered = event.data
    known_shop(data.shop_id, ctx)
    answer = customers.AnswerRow(
        data.shop_id,
        data.survey_id,
        data.kind.value,
        data.score,
        data.at,
        False,
        data.ticket_id,
        data.order_id,
    )
    await _record(conn, answer)


async def on_unhappy_answer(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """survey.detractor: the answer marked unhappy (before the follow-up opens, so the follow-up knows
    its customer is a detractor), then the follow-up ticket."""
    data: SurveyDetractor = event.data
    known_shop(data.shop_id, ctx)
    answer = customers.AnswerRow(
        data.shop_id,
        data.survey_id,
        data.kind.value,
        data.score,
        data.at,
        True,
        data.ticket_id,
        data.order_id,
    )
    await _record(conn, answer, customers.Whose(data.shop_id, data.customer.id, data.customer.email))
    await on_survey_detractor(event, conn, ctx)
