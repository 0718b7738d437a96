"""SLA events published by the SLA service on `sla.events` (ticket clocks keyed by ticket id,
order promises keyed by order id)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import Customer, EventData


class SlaMetric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class SlaClockFields(EventData):
    """What every event about one ticket clock carries."""

    shop_id: str
    ticket_id: str
    clock_id: str
    metric: SlaMetric
    policy_id: str
    channel: str
    priority: str
    target_seconds: int = Field(ge=0)
    category: str | None = None
    business_hours: bool | None = None
    """Whether the target counts only the shop calendar's opening hours."""


class SlaClockEventData(SlaClockFields):
    deadline: datetime


class SlaWarning(SlaClockEventData):
    at: datetime
    share_of_target: float


class SlaBreached(SlaClockEventData):
    at: datetime
    lag_seconds: float = Field(description="how late after the deadline the event went out")


class SlaMet(SlaClockEventData):
    at: datetime
    elapsed_seconds: float


class SlaEscalated(SlaClockEventData):
    at: datetime
    level: int = Field(ge=1)
    escalate_to: str


class SlaClockStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class SlaOutcome(StrEnum):
    MET = "met"
    BREACHED = "breached"


class SlaClockChanged(SlaClockFields):
    """A clock started, paused, resumed, stopped or was cancelled: its state after the change, so a
    consumer knows every running deadline without knowing the shop's policies or calendar."""

    at: datetime
    status: SlaClockStatus
    deadline: datetime | None = Field(
        default=None, description="the breach instant while running; null while paused or once ended"
    )
    elapsed_seconds: float = Field(ge=0, description="time counted against the target at `at`")
    outcome: SlaOutcome | None = Field(
        default=None, description="met or breached once known (breached while it still runs, too)"
    )


class PromiseKind(StrEnum):
    SHIP_BY = "ship_by"
    DELIVERY_DATE = "delivery_date"
    REPAIR_TURNAROUND = "repair_turnaround"


class OrderPromiseBreached(EventData):
    shop_id: str
    order_id: str
    customer: Customer
    promise: PromiseKind
    promised_at: datetime
    at: datetime
    repair_id: str | None = None


SLA_EVENT_TYPES: dict[str, type[EventData]] = {
    "sla.warning": SlaWarning,
    "sla.breached": SlaBreached,
    "sla.met": SlaMet,
    "sla.escalated": SlaEscalated,
    "sla.clock_changed": SlaClockChanged,
    "order.promise_breached": OrderPromiseBreached,
}
