"""A shop's settings of automatic answers and ticket housekeeping: data a shop changes through the API
(`PUT /v1/settings/automatic-answers`, `PUT /v1/settings/housekeeping`), validated here, kept as JSON
per shop; a shop that never set them has the defaults below."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.templates import LANGUAGES, MAX_TEMPLATE_CHARS, template_problem

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
TemplateSource = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEMPLATE_CHARS)]
Days = Annotated[float, Field(gt=0, le=365)]


def _checked(templates: dict[str, str]) -> dict[str, str]:
    for lang, source in templates.items():
        if lang not in LANGUAGES:
            raise ValueError(f"no default messages in {lang!r}: templates are for {list(LANGUAGES)}")
        problem = template_problem(source)
        if problem is not None:
            raise ValueError(f"{lang}: {problem}")
    return templates


class AutomaticAnswers(BaseModel):
    """Whether "where is my order?" contacts get an automatic answer, and how it is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    """The per-shop switch: off until the shop turns it on."""
    deflect_after_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    """An answered ticket waits this long for the customer; then it is solved as deflected."""
    delay_notices: bool = False
    """The shop tells its customers of delays (a notify subscription to order.delayed, or its own
    mail): an order.delayed intake saw before the contact counts as a notice the customer got."""
    templates: dict[Language, TemplateSource] = Field(default_factory=dict, max_length=len(LANGUAGES))
    """The answer's text per language, replacing CareLoop's default (domain/answers.py names the
    variables); a template failing to render falls back to the default."""

    @field_validator("templates")
    @classmethod
    def _templates(cls, templates: dict[str, str]) -> dict[str, str]:
        return _checked(templates)

    @property
    def deflect_after(self) -> timedelta:
        return timedelta(hours=self.deflect_after_hours)


class Housekeeping(BaseModel):
    """What happens to tickets left alone: solved ones close, pending ones are reminded, then solved.
    A null time switches that step off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    close_solved_after_days: Days | None = 4.0
    """A solved ticket closes for good after this long (a message then opens a new, linked ticket)."""
    remind_pending_after_days: Days | None = 3.0
    """A ticket pending on the customer this long gets one reminder to them."""
    solve_pending_after_days: Days | None = 7.0
    """A ticket pending this long is solved (reason no_reply)."""
    reminder_templates: dict[Language, TemplateSource] = Field(
        default_factory=dict, max_length=len(LANGUAGES)
    )
    """The reminder's text per language, replacing CareLoop's default."""

    @field_validator("reminder_templates")
    @classmethod
    def _templates(cls, templates: dict[str, str]) -> dict[str, str]:
        return _checked(templates)

    @model_validator(mode="after")
    def _reminder_before_solving(self) -> Self:
        remind, solve = self.remind_pending_after_days, self.solve_pending_after_days
        if remind is not None and solve is not None and remind >= solve:
            raise ValueError("remind_pending_after_days must be shorter than solve_pending_after_days")
        return self


def days(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(days=value)


DEFAULT_AUTOMATIC_ANSWERS = AutomaticAnswers()
DEFAULT_HOUSEKEEPING = Housekeeping()
