"""The three survey kinds and their answer scales."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.v1.surveys import SurveyKind

__all__ = ["SCALES", "Scale", "SurveyKind", "is_detractor", "scale_of"]


@dataclass(frozen=True)
class Scale:
    low: int
    high: int
    unhappy_up_to: int | None
    """Scores at or below this open a follow-up (survey.detractor); None: the kind never does."""

    def accepts(self, score: int) -> bool:
        return self.low <= score <= self.high

    @property
    def values(self) -> range:
        return range(self.low, self.high + 1)


SCALES: dict[SurveyKind, Scale] = {
    SurveyKind.NPS: Scale(0, 10, unhappy_up_to=6),
    SurveyKind.CSAT: Scale(1, 5, unhappy_up_to=2),
    SurveyKind.CES: Scale(1, 7, unhappy_up_to=None),
}

SUB_RATING_SCALE = Scale(1, 5, unhappy_up_to=None)
"""CSAT's optional sub-ratings (speed, accuracy/completeness)."""


def scale_of(kind: SurveyKind) -> Scale:
    return SCALES[kind]


def is_detractor(kind: SurveyKind, score: int) -> bool:
    threshold = SCALES[kind].unhappy_up_to
    return threshold is not None and score <= threshold
