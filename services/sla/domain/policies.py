"""SLA policies: per shop, ordered, matched on a ticket's priority, channel and category.

Matching is per metric: for each of first response, next response and resolution, the first policy
whose conditions fit the ticket *and* which sets a target for that metric wins. So channel policies can
set response targets while priority policies set resolution targets, without a cross product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.v1.contacts import Channel
from schemas.v1.sla import SlaMetric
from schemas.v1.tickets import Category, Priority
from services.sla.domain.clocks import Stage, StageKind

MINUTE = 60
HOUR = 60 * MINUTE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    seconds: int = Field(ge=1, le=366 * 24 * HOUR)
    business_hours: bool = True
    """Count only the shop calendar's opening hours (False: plain elapsed time)."""


class Escalation(_Strict):
    level: int = Field(ge=1, le=9)
    after_share: float = Field(ge=1.0, le=100.0, description="share of the target: 1.0 = at breach")
    escalate_to: str = Field(min_length=1, max_length=64)


DEFAULT_ESCALATIONS = (
    Escalation(level=1, after_share=1.0, escalate_to="team_lead"),
    Escalation(level=2, after_share=2.0, escalate_to="manager"),
)


class Conditions(_Strict):
    """Empty lists match anything."""

    priorities: list[Priority] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)

    def match(self, priority: Priority, channel: Channel, category: Category) -> bool:
        return (
            (not self.priorities or priority in self.priorities)
            and (not self.channels or channel in self.channels)
            and (not self.categories or category in self.categories)
        )


class Policy(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]{1,40}$")
    name: str = Field(default="", max_length=200)
    conditions: Conditions = Field(default_factory=Conditions)
    first_response: Target | None = None
    next_response: Target | None = None
    resolution: Target | None = None
    warning_share: float | None = Field(default=0.8, gt=0.0, lt=1.0)
    """Warn when this share of the target has passed; null: no warning."""
    escalations: list[Escalation] = Field(default_factory=lambda: list(DEFAULT_ESCALATIONS), max_length=9)

    def target_for(self, metric: SlaMetric) -> Target | None:
        targets = {
            SlaMetric.FIRST_RESPONSE: self.first_response,
            SlaMetric.NEXT_RESPONSE: self.next_response,
            SlaMetric.RESOLUTION: self.resolution,
        }
        return targets[metric]

    def stages(self) -> tuple[Stage, ...]:
        stages = [Stage(StageKind.BREACH, 1.0)]
        if self.warning_share is not None:
            stages.append(Stage(StageKind.WARNING, self.warning_share))
        stages += [
            Stage(StageKind.ESCALATION, e.after_share, e.level, e.escalate_to) for e in self.escalations
        ]
        return tuple(sorted(stages, key=Stage.order_key))

    @model_validator(mode="after")
    def _distinct_levels(self) -> Policy:
        levels = [e.level for e in self.escalations]
        if len(levels) != len(set(levels)):
            raise ValueError("escalation levels must be distinct")
        return self


class PolicySet(_Strict):
    """What GET/PUT /v1/sla/policies exchange: a shop's ordered policies and order-promise defaults."""

    policies: list[Policy] = Field(min_length=1, max_length=100)
    default_ship_by_business_hours: int = Field(default=48, ge=1, le=2000)
    """Ship-by promise for a paid order that carries none."""

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicySet:
        ids = [p.id for p in self.policies]
        if len(ids) != len(set(ids)):
            raise ValueError("policy ids must be unique")
        return self

    def resolve(
        self, metric: SlaMetric, priority: Priority, channel: Channel, category: Category
    ) -> ResolvedTarget | None:
        for policy in self.policies:
            target = policy.target_for(metric)
            if target is not None and policy.conditions.match(priority, channel, category):
                return ResolvedTarget(
                    policy.id, timedelta(seconds=target.seconds), target.business_hours, policy.stages()
                )
        return None


@dataclass(frozen=True)
class ResolvedTarget:
    """A policy's target frozen onto a clock when it starts: later policy edits do not touch it."""

    policy_id: str
    target: timedelta
    business_hours: bool
    stages: tuple[Stage, ...]


def _channel_policy(channel: Channel, first: int, following: int) -> Policy:
    return Policy(
        id=channel.value,
        name=f"{channel.value} response times",
        conditions=Conditions(channels=[channel]),
        first_response=Target(seconds=first),
        next_response=Target(seconds=following),
    )


def _priority_policy(priority: Priority, resolution: int) -> Policy:
    return Policy(
        id=f"{priority.value}-resolution",
        name=f"{priority.value} tickets resolved",
        conditions=Conditions(priorities=[priority]),
        resolution=Target(seconds=resolution),
    )


DEFAULT_POLICIES = PolicySet(
    policies=[
        _channel_policy(Channel.CHAT, 5 * MINUTE, 5 * MINUTE),
        _channel_policy(Channel.EMAIL, 1 * HOUR, 4 * HOUR),
        _channel_policy(Channel.SOCIAL, 1 * HOUR, 2 * HOUR),
        _channel_policy(Channel.PHONE, 1 * HOUR, 4 * HOUR),
        _channel_policy(Channel.WEB_FORM, 4 * HOUR, 8 * HOUR),
        _priority_policy(Priority.URGENT, 4 * HOUR),
        _priority_policy(Priority.HIGH, 8 * HOUR),
        _priority_policy(Priority.NORMAL, 24 * HOUR),
        _priority_policy(Priority.LOW, 40 * HOUR),
    ]
)
"""Shipped defaults: chat 5 min, e-mail and social 1 h first response; urgent 4 h, normal 24 h resolution,
all in business hours."""
