"""Survey events published by the survey service on `survey.events`, keyed by survey id."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import Customer, EventData


class SurveyKind(StrEnum):
    NPS = "nps"  # 0-10
    CSAT = "csat"  # 1-5
    CES = "ces"  # 1-7


class SurveyInvited(EventData):
    shop_id: str
    survey_id: str
    kind: SurveyKind
    customer: Customer
    order_id: str | None = None
    ticket_id: str | None = None
    link: str = Field(description="personal, single-use answer link")
    expires_at: datetime
    locale: str = Field(default="en", max_length=35, description="language of the answer page")


class SurveyAnswered(EventData):
    shop_id: str
    survey_id: str
    kind: SurveyKind
    score: int
    comment: str | None = None
    order_id: str | None = None
    ticket_id: str | None = None
    at: datetime
    speed: int | None = Field(default=None, ge=1, le=5, description="CSAT sub-rating: speed of help")
    accuracy: int | None = Field(
        default=None, ge=1, le=5, description="CSAT sub-rating: accuracy/completeness of the answer"
    )
    channel: str | None = Field(default=None, description="channel of the originating ticket")
    category: str | None = Field(default=None, description="category of the originating ticket")


class SurveyDetractor(EventData):
    """A detractor (NPS 0-6) or an unhappy CSAT (1-2): intake opens a follow-up ticket."""

    shop_id: str
    survey_id: str
    kind: SurveyKind
    score: int
    comment: str | None = None
    customer: Customer
    order_id: str | None = None
    ticket_id: str | None = None
    at: datetime


SURVEY_EVENT_TYPES: dict[str, type[EventData]] = {
    "survey.invited": SurveyInvited,
    "survey.answered": SurveyAnswered,
    "survey.detractor": SurveyDetractor,
}
