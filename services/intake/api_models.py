"""Intake's HTTP request and response bodies, and how a ticket and a message are shown."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.http_api import ApiError
from schemas.v1.common import PlainText
from schemas.v1.contacts import Attachment, Channel, ContactFields
from schemas.v1.tickets import Category, Priority, TicketStatus

from . import metrics
from .domain.sla_state import ClockState, summary
from .repository.customers import standing_of


class ContactSubmission(ContactFields):
    """`POST /v1/contacts`: the contact.received fields; the shop is the API key's (shop_id optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shop_id: str | None = Field(default=None, max_length=64)


class ContactAccepted(BaseModel):
    outcome: Literal["created", "joined", "reopened", "duplicate"]
    """created: a new ticket; joined: next message of an open ticket; reopened: it reopened a solved
    ticket; duplicate: this channel_message_id was already received (nothing changed)."""
    ticket_id: str
    message_id: str


class CustomerView(BaseModel):
    id: str | None
    email: str | None
    phone: str | None
    handle: str | None
    name: str | None
    locale: str


class OrderView(BaseModel):
    id: str
    status: str | None = Field(description="latest status from orders.events; null if none seen yet")
    status_at: datetime | None
    promised_delivery_date: date | None


class SlaClockView(BaseModel):
    """One SLA clock of the ticket, as the SLA service's events left it."""

    clock_id: str
    metric: Literal["first_response", "next_response", "resolution"]
    status: Literal["running", "paused", "stopped", "cancelled"]
    due_at: datetime | None = Field(description="the breach instant while the clock runs, else null")
    target_seconds: int
    elapsed_seconds: float | None = Field(description="counted against the target at its last change")
    started_at: datetime
    warned_at: datetime | None
    breached_at: datetime | None = Field(description="the instant the target passed")
    met_at: datetime | None
    escalation_level: int = Field(description="0: not escalated")
    escalate_to: str | None


class SlaView(BaseModel):
    """The ticket's SLA state: its clocks, the nearest running deadline and the highest escalation."""

    next_due_at: datetime | None = Field(description="the nearest deadline of a running clock")
    escalation_level: int = Field(description="the highest escalation level of its clocks (0: none)")
    escalate_to: str | None = Field(description="who that escalation went to")
    clocks: list[SlaClockView]


class TicketView(BaseModel):
    id: str
    status: TicketStatus
    channel: Channel
    category: Category
    priority: Priority
    subject: str
    source: str
    source_ref: str | None
    customer: CustomerView
    customer_value: dict[str, Decimal] | None = Field(
        description="the customer's lifetime value per currency (CLV, GET /v1/customers); null: not known"
    )
    customer_detractor: bool | None = Field(
        description="whether the customer is a detractor; null: not known"
    )
    order: OrderView | None
    is_repeat: bool
    repeat_of: str | None
    breached: bool
    breached_metrics: list[str]
    sla: SlaView
    agent_replies: int
    reopen_count: int
    first_contact_resolution: bool | None
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None
    reply_failed: bool = Field(description="a reply did not reach the customer (and none went out since)")
    reply_failed_at: datetime | None = Field(description="when the reply that failed was written")
    continues_ticket_id: str | None = Field(
        description="the closed ticket this one continues (the customer wrote on it again)"
    )
    pending_since: datetime | None = Field(description="when it last went pending")
    reminded_at: datetime | None = Field(description="when the customer was reminded since it went pending")
    deflect_at: datetime | None = Field(
        description="an automatic answer waits for the customer until then; then it is solved as deflected"
    )
    team_id: str | None = Field(description="the team working it")
    assignee_agent_id: str | None = Field(description="its agent; null: in the unassigned queue")
    assigned_at: datetime | None
    tags: list[str]


class MessageDelivery(BaseModel):
    """How a public reply fared on its channel, as the gateways reported it."""

    status: Literal["queued", "sent", "delivered", "failed"]
    reason: str | None = Field(description="why it failed, in the gateway's words")
    gateway: str | None
    updated_at: datetime | None = Field(description="when the last report was made; null while queued")


class MessageView(BaseModel):
    id: str
    author: Literal["customer", "agent", "system"]
    internal: bool
    channel: str | None
    channel_message_id: str | None
    author_name: str | None
    author_agent_id: str | None = Field(description="the agent who wrote it with their own token")
    subject: str
    body: str
    attachments: list[Attachment]
    at: datetime
    merged_from: str | None = Field(description="the ticket it was written on, if merged into this one")
    automatic: bool = Field(description="written by CareLoop itself (an automatic answer)")
    delivery: MessageDelivery | None = Field(
        description="a public reply's fate on its channel; null otherwise"
    )


class TicketDetail(TicketView):
    messages: list[MessageView]


class TicketPage(BaseModel):
    tickets: list[TicketView]
    limit: int
    offset: int
    next_offset: int | None


class _Strict(PlainText):
    model_config = ConfigDict(extra="forbid")


class ReplyIn(_Strict):
    body: str = Field(min_length=1, max_length=20_000)
    author_name: str | None = Field(default=None, max_length=200)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class ReplyOrMacroIn(_Strict):
    """`POST /v1/tickets/{id}/replies`: the reply's text (`body`), or the shop's macro to send
    (`macro_id`, rendered for the ticket's customer and order): one of them."""

    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    macro_id: str | None = Field(default=None, min_length=1, max_length=64)
    author_name: str | None = Field(default=None, max_length=200)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _text_or_macro(self) -> "ReplyOrMacroIn":
        if (self.body is None) == (self.macro_id is None):
            raise ValueError("give body or macro_id (one of them)")
        return self


class NoteIn(_Strict):
    body: str = Field(min_length=1, max_length=20_000)
    author_name: str | None = Field(default=None, max_length=200)


class StatusIn(_Strict):
    status: TicketStatus


class MergeIn(_Strict):
    into_ticket_id: str = Field(min_length=1, max_length=100)


class InboundEmailAccepted(BaseModel):
    outcome: Literal["created", "joined", "reopened", "duplicate", "ignored"]
    """As for contacts, plus ignored: an automatic mail (auto-reply, bounce, our own reply come
    back), recorded and neither a ticket nor answered."""
    ticket_id: str | None
    message_id: str | None
    ignored_reason: str | None = None
    """auto_submitted, precedence, autoreply_header, mailer_daemon, delivery_report, own_message"""


class MessageCreated(BaseModel):
    ticket_id: str
    message_id: str


class Problem(BaseModel):
    error: str
    detail: Any


def ticket_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "channel": row["channel"],
        "category": row["category"],
        "priority": row["priority"],
        "subject": row["subject"],
        "source": row["source"],
        "source_ref": row["source_ref"],
        "customer": {
            "id": row["customer_id"],
            "email": row["customer_email"],
            "phone": row["customer_phone"],
            "handle": row["customer_handle"],
            "name": row["customer_name"],
            "locale": row["customer_locale"],
        },
        **customer_standing(row),
        "order": None
        if row["order_id"] is None
        else {
            "id": row["order_id"],
            "status": row["order_status"],
            "status_at": row["order_status_at"],
            "promised_delivery_date": row["order_promised_delivery_date"],
        },
        "is_repeat": row["is_repeat"],
        "repeat_of": row["repeat_of"],
        "breached": row["breached"],
        "breached_metrics": list(row["breached_metrics"]),
        "agent_replies": row["agent_replies"],
        "reopen_count": row["reopen_count"],
        "first_contact_resolution": row["fcr"],
        "merged_into": row["merged_into"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_activity_at": row["last_activity_at"],
        "first_response_at": row["first_response_at"],
        "solved_at": row["solved_at"],
        "closed_at": row["closed_at"],
        "reply_failed": row["reply_failed_at"] is not None,
        "reply_failed_at": row["reply_failed_at"],
        "continues_ticket_id": row["continues_ticket_id"],
        "pending_since": row["pending_since"],
        "reminded_at": row["reminded_at"],
        "deflect_at": row["deflect_at"],
        "team_id": row["team_id"],
        "assignee_agent_id": row["assignee_agent_id"],
        "assigned_at": row["assigned_at"],
        "tags": list(row["tags"]),
    }


def customer_standing(row: asyncpg.Record) -> dict[str, Any]:
    """What the ticket knows of its customer's worth (tickets.customer_standing, kept current)."""
    standing = standing_of(row["customer_standing"])
    if standing is None:
        return {"customer_value": None, "customer_detractor": None}
    return {"customer_value": standing.clv(), "customer_detractor": standing.detractor}


def sla_view(clocks: list[ClockState]) -> dict[str, Any]:
    state = summary(clocks)
    return {
        "next_due_at": state.next_due_at,
        "escalation_level": state.escalation_level,
        "escalate_to": state.escalate_to,
        "clocks": [
            {
                "clock_id": c.clock_id,
                "metric": c.metric,
                "status": c.status,
                "due_at": c.due_at,
                "target_seconds": c.target_seconds,
                "elapsed_seconds": c.elapsed_seconds,
                "started_at": c.started_at,
                "warned_at": c.warned_at,
                "breached_at": c.breached_at,
                "met_at": c.met_at,
                "escalation_level": c.escalation_level,
                "escalate_to": c.escalate_to,
            }
            for c in clocks
        ],
    }


def message_view(row: asyncpg.Record, ticket_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "author": row["author"],
        "internal": row["internal"],
        "channel": row["channel"],
        "channel_message_id": row["channel_message_id"],
        "author_name": row["author_name"],
        "author_agent_id": row["author_agent_id"],
        "subject": row["subject"],
        "body": row["body"],
        "attachments": row["attachments"],
        "at": row["at"],
        "merged_from": row["original_ticket_id"] if row["original_ticket_id"] != ticket_id else None,
        "automatic": row["automatic"],
        "delivery": None
        if row["delivery_status"] is None
        else {
            "status": row["delivery_status"],
            "reason": row["delivery_reason"],
            "gateway": row["delivery_gateway"],
            "updated_at": row["delivery_updated_at"],
        },
    }


def refused(status: int, error: str, detail: str) -> ApiError:
    """The refusal a route raises, counted in intake's rejected inputs (the runtime answers it)."""
    metrics.REJECTED.labels("http", error).inc()
    return ApiError(status, error, detail)
