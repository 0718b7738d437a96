"""Ticket lifecycle events published by intake on `tickets.events`, keyed by ticket id."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import EventData
from schemas.v1.contacts import Attachment, Channel


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer: SLA clocks pause
    ON_HOLD = "on_hold"  # waiting on a third party: SLA clocks pause
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Category(StrEnum):
    ORDER_STATUS = "order_status"
    DELIVERY_DELAY = "delivery_delay"
    RETURN = "return"
    COMPLAINT_REPAIR = "complaint_repair"
    PAYMENT = "payment"
    PRODUCT_QUESTION = "product_question"
    OTHER = "other"


class Author(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class TicketEventData(EventData):
    """What every ticket event carries, so a consumer never needs a second lookup."""

    shop_id: str
    ticket_id: str
    order_id: str | None = None
    customer_id: str | None = None
    """The shop's customer id, known from the order's events; null when not (yet) known."""
    customer_email: str | None = None
    customer_locale: str = "en"
    customer_value: dict[str, Decimal] | None = None
    """The customer's lifetime value per currency (CLV, docs/intake.md "Customer 360"), as intake knew
    it then: {} when no counted order of theirs is known; null when not told."""
    customer_detractor: bool | None = None
    """Whether the customer is a detractor (their latest answer of some survey kind was unhappy)."""
    channel: Channel
    category: Category
    priority: Priority
    team_id: str | None = None
    """The team working the ticket (null: none), so a consumer (survey's CSAT by team) needs no lookup."""
    assignee_agent_id: str | None = None
    """The agent the ticket is assigned to (null: it waits in the unassigned queue)."""


class TicketSource(StrEnum):
    CONTACT = "contact"
    SURVEY_DETRACTOR = "survey_detractor"
    SLA_PROMISE = "sla_promise"


class TicketCreated(TicketEventData):
    subject: str = ""
    status: TicketStatus = TicketStatus.OPEN
    is_repeat: bool = False
    """A second ticket from the same customer about the same order within 7 days."""
    source: str = Field(default="contact", description="contact | survey_detractor | sla_promise")
    source_ref: str | None = None
    """The survey id (survey_detractor) or the broken promise (sla_promise) that opened the ticket."""
    continues_ticket_id: str | None = None
    """The closed ticket this one continues: the customer wrote on it again (its thread, or answering
    one of its messages), and a closed ticket takes no more messages."""
    at: datetime | None = None


class TicketMessageAdded(TicketEventData):
    message_id: str
    author: Author
    internal: bool = False
    at: datetime
    author_agent_id: str | None = None
    """The agent who wrote it (an agent's reply or note made with their token)."""


class TicketFirstResponse(TicketEventData):
    at: datetime
    first_response_seconds: float
    author_agent_id: str | None = None
    """The agent whose reply it was (null: the shop's key or an automatic answer)."""


class TicketStatusChanged(TicketEventData):
    previous_status: TicketStatus
    status: TicketStatus
    at: datetime


class TicketSolved(TicketEventData):
    at: datetime
    resolution_seconds: float
    first_contact_resolution: bool
    """Solved with exactly one agent reply and never reopened."""
    reason: str | None = Field(default=None, description="null (an agent) | deflected | no_reply")
    """Why intake solved it by itself: `deflected`, the customer did not write back after an automatic
    answer; `no_reply`, it stayed pending past the shop's time. Null when an agent solved it."""


class TicketReopened(TicketEventData):
    at: datetime


class TicketMerged(TicketEventData):
    """Published for the ticket that was merged away (it is closed); its messages moved."""

    merged_into_ticket_id: str
    at: datetime


class TicketClosed(TicketEventData):
    """The ticket is final (closed by an agent, merged away or closed after staying solved): no clock
    or survey waits on it."""

    at: datetime
    merged_into_ticket_id: str | None = None
    reason: str | None = Field(default=None, description="null (an agent or a merge) | auto_close")
    """`auto_close`: intake closed it after it stayed solved for the shop's time."""


class TicketAssigned(TicketEventData):
    """The ticket's team or agent changed (`team_id`, `assignee_agent_id`: now; null agent: back in
    the team's unassigned queue)."""

    previous_team_id: str | None = None
    previous_agent_id: str | None = None
    reason: str = Field(description="auto | manual | take | escalation | released")
    """auto: intake routed it (the team its rule or the shop's default names, and that team's policy);
    manual: an assign call; take: the agent took it; escalation: an SLA escalation reached its level's
    target; released: its agent was deactivated."""
    escalation_level: int | None = None
    """The SLA escalation level that moved it (reason escalation)."""
    by_agent_id: str | None = None
    """Who assigned it (an agent's token; null: the shop's key or intake itself)."""
    at: datetime


class ReplyContact(EventData):
    """Whatever the ticket knows of how to reach the customer."""

    email: str | None = None
    phone: str | None = None
    handle: str | None = None
    name: str | None = None
    thread_id: str | None = Field(default=None, max_length=500)
    """The channel's own conversation id the customer last wrote on (chat session, social thread,
    e-mail thread root), as the gateway gave it."""


class ReplyThreading(EventData):
    """The channel's threading references. For e-mail: the reply's own Message-ID, the customer's
    message it answers (In-Reply-To) and the whole chain (References), each in angle brackets."""

    message_id: str | None = Field(default=None, max_length=500)
    in_reply_to: str | None = Field(default=None, max_length=500)
    references: list[str] = Field(default_factory=list, max_length=50)


class ReplyFields(EventData):
    """One public message to the customer, as written on the ticket."""

    message_id: str
    """The ticket message's id: what `reply.status` reports on."""
    author: Author
    author_name: str | None = None
    author_agent_id: str | None = None
    """The agent who wrote it, when they wrote with their own token."""
    text: str = Field(min_length=1, max_length=20_000)
    subject: str = Field(default="", max_length=500)
    """The ticket's subject (an e-mail reply is "Re: <subject>")."""
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    contact: ReplyContact
    threading: ReplyThreading = Field(default_factory=ReplyThreading)
    automatic: bool = False
    """Written by CareLoop itself (an automatic answer), not by an agent."""
    at: datetime


class TicketReplied(TicketEventData, ReplyFields):
    """A public message to the customer (an agent's reply or an automatic answer): what to send, to
    whom and with which threading references. The same reply goes to the gateways on support.replies."""


class TicketReplyFailed(TicketEventData):
    """A gateway reported that a reply did not reach the customer: the ticket is flagged."""

    message_id: str
    reason: str | None = None
    gateway: str = ""
    at: datetime


TICKET_EVENT_TYPES: dict[str, type[EventData]] = {
    "ticket.created": TicketCreated,
    "ticket.message_added": TicketMessageAdded,
    "ticket.first_response": TicketFirstResponse,
    "ticket.status_changed": TicketStatusChanged,
    "ticket.solved": TicketSolved,
    "ticket.reopened": TicketReopened,
    "ticket.merged": TicketMerged,
    "ticket.closed": TicketClosed,
    "ticket.replied": TicketReplied,
    "ticket.reply_failed": TicketReplyFailed,
    "ticket.assigned": TicketAssigned,
}
