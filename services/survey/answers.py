"""Answering a survey: the one answer a token allows, survey.answered, and survey.detractor for an
unhappy score, written in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.surveys import SurveyAnswered, SurveyDetractor
from services.survey import repository
from services.survey.context import SOURCE, Context
from services.survey.domain.kinds import SUB_RATING_SCALE, SurveyKind, is_detractor, scale_of
from services.survey.domain.tokens import TokenFacts, TokenState, hash_token, token_state
from services.survey.metrics import ANSWERS, DETRACTORS, TOKEN_REFUSALS


class InvalidAnswer(ValueError):
    """An answer outside the survey's scale; `field` says which input was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AnswerInput:
    score: int
    comment: str | None = None
    speed: int | None = None
    accuracy: int | None = None


@dataclass(frozen=True)
class AnswerOutcome:
    state: TokenState
    """VALID means this call recorded the answer; otherwise why the token was refused."""
    invitation: asyncpg.Record | None


MAX_COMMENT_CHARS = 5000


def validate_answer(kind: SurveyKind, answer: AnswerInput) -> None:
    if answer.comment is not None and len(answer.comment) > MAX_COMMENT_CHARS:
        raise InvalidAnswer("comment", f"comment must be at most {MAX_COMMENT_CHARS} characters")
    scale = scale_of(kind)
    if not scale.accepts(answer.score):
        raise InvalidAnswer("score", f"score must be between {scale.low} and {scale.high}")
    for name, value in (("speed", answer.speed), ("accuracy", answer.accuracy)):
        if value is None:
            continue
        if kind is not SurveyKind.CSAT:
            raise InvalidAnswer(name, f"{name} is rated only in CSAT surveys")
        if not SUB_RATING_SCALE.accepts(value):
            raise InvalidAnswer(name, f"{name} must be between 1 and 5")


async def token_status(conn: Connection, token: str, now: datetime) -> AnswerOutcome:
    inv = await repository.by_token(conn, hash_token(token))
    facts = TokenFacts(inv["expires_at"], inv["answered_at"]) if inv else None
    return AnswerOutcome(token_state(facts, now), inv)


async def answer_survey(
    conn: Connection, token: str, answer: AnswerInput, ctx: Context, now: datetime, via: str
) -> AnswerOutcome:
    """Record the one answer a token allows, with survey.answered (and survey.detractor when unhappy).
    Raises InvalidAnswer before using the token, so a typo does not burn the link."""
    status = await token_status(conn, token, now)
    if status.state is not TokenState.VALID or status.invitation is None:
        TOKEN_REFUSALS.labels(status.state.value).inc()
        return status
    kind = SurveyKind(status.invitation["kind"])
    validate_answer(kind, answer)
    inv = await repository.claim_for_answer(conn, hash_token(token), now)
    if inv is None:  # a concurrent answer won the token between the read and the claim
        TOKEN_REFUSALS.labels(TokenState.ANSWERED.value).inc()
        return AnswerOutcome(TokenState.ANSWERED, status.invitation)
    comment = answer.comment.strip() if answer.comment and answer.comment.strip() else None
    await repository.insert_answer(
        conn,
        repository.StoredAnswer(
            survey_id=inv["survey_id"],
            shop_id=inv["shop_id"],
            kind=kind,
            score=answer.score,
            speed=answer.speed,
            accuracy=answer.accuracy,
            comment=comment,
            channel=inv["channel"],
            category=inv["category"],
            via=via,
            answered_at=now,
            agent_id=inv["agent_id"],
            team_id=inv["team_id"],
        ),
    )
    answered = SurveyAnswered(
        shop_id=inv["shop_id"],
        survey_id=inv["survey_id"],
        kind=kind,
        score=answer.score,
        comment=comment,
        order_id=inv["order_id"],
        ticket_id=inv["ticket_id"],
        at=now,
        speed=answer.speed,
        accuracy=answer.accuracy,
        channel=inv["channel"],
        category=inv["category"],
    )
    await enqueue(
        conn, ctx.topic, make_event("survey.answered", SOURCE, answered, subject=inv["survey_id"], time=now)
    )
    on_commit(ANSWERS.labels(kind.value, via).inc)
    if is_detractor(kind, answer.score):
        detractor = SurveyDetractor(
            shop_id=inv["shop_id"],
            survey_id=inv["survey_id"],
            kind=kind,
            score=answer.score,
            comment=comment,
            customer=Customer.model_validate(inv["customer"]),
            order_id=inv["order_id"],
            ticket_id=inv["ticket_id"],
            at=now,
        )
        await enqueue(
            conn,
            ctx.topic,
            make_event("survey.detractor", SOURCE, detractor, subject=inv["survey_id"], time=now),
        )
        on_commit(DETRACTORS.labels(kind.value).inc)
    return AnswerOutcome(TokenState.VALID, inv)
