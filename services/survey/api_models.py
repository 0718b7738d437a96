"""The survey API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from services.survey.answers import MAX_COMMENT_CHARS
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.reports import Figures


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="the token from the personal link")
    score: int = Field(description="NPS 0-10, CSAT 1-5, CES 1-7")
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)
    speed: int | None = Field(default=None, description="CSAT only: speed of the help, 1-5")
    accuracy: int | None = Field(default=None, description="CSAT only: accuracy/completeness, 1-5")


class AnswerAccepted(BaseModel):
    survey_id: str
    kind: SurveyKind
    score: int
    detractor: bool


class FiguresOut(BaseModel):
    answers: int
    score: float | None
    invited: int = Field(description="invitations sent in the period")
    answered_of_invited: int = Field(description="how many of those invitations have been answered")
    response_rate: float | None = Field(description="percent of the period's invitations answered")
    distribution: dict[int, int]

    @classmethod
    def of(cls, f: Figures) -> FiguresOut:
        return cls(
            answers=f.answers,
            score=f.score,
            invited=f.invited,
            answered_of_invited=f.answered_of_invited,
            response_rate=f.response_rate,
            distribution=f.distribution,
        )


class ReportOut(BaseModel):
    shop_id: str
    kind: SurveyKind
    score_definition: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    overall: FiguresOut
    by_channel: dict[str, FiguresOut]
    by_category: dict[str, FiguresOut]
    by_agent: dict[str, FiguresOut] = Field(
        default_factory=dict, description="by the agent the ticket had when solved (none: no agent)"
    )
    by_team: dict[str, FiguresOut] = Field(
        default_factory=dict, description="by the team the ticket had when solved (none: no team)"
    )
    granularity: str | None = None
    trend: dict[date, FiguresOut] = Field(
        default_factory=dict, description="per day/week/month (its first local day) when asked for"
    )

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "dimension",
        "key",
        "answers",
        "score",
        "invited",
        "answered_of_invited",
        "response_rate",
    )

    def csv_rows(self) -> list[dict[str, object]]:
        """One row per figure set: overall, each channel, category, agent and team, each trend bucket."""
        groups: list[tuple[str, dict[str, FiguresOut]]] = [
            ("overall", {"all": self.overall}),
            ("channel", self.by_channel),
            ("category", self.by_category),
            ("agent", self.by_agent),
            ("team", self.by_team),
            (self.granularity or "trend", {k.isoformat(): v for k, v in self.trend.items()}),
        ]
        return [
            {"dimension": dimension, "key": key, **figures.model_dump(exclude={"distribution"})}
            for dimension, by_key in groups
            for key, figures in by_key.items()
        ]


class DecisionOut(BaseModel):
    survey_id: str
    kind: SurveyKind
    decision: str
    reason: str
    decided_at: datetime
    order_id: str | None
    ticket_id: str | None


DEFINITIONS = {
    SurveyKind.NPS: "% promoters (9-10) minus % detractors (0-6), -100..100",
    SurveyKind.CSAT: "% of answers 4 or 5 (of 1-5)",
    SurveyKind.CES: "mean effort score, 1 (very difficult) .. 7 (very easy)",
}
