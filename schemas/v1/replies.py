"""Replies to customers on their channel. `ReplyFields` (schemas/v1/tickets.py) is shared by
`ticket.replied` (tickets.events, for everyone who follows tickets) and `reply.requested`
(support.replies, the channel-neutral outbound message a gateway sends: the mirror of
`contact.received`). Gateways answer on `support.reply_status` with `reply.status`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import EventData
from schemas.v1.contacts import Channel
from schemas.v1.tickets import ReplyFields


class ReplyRequested(ReplyFields):
    """`support.replies`: send this to the customer on `channel`, then report on support.reply_status."""

    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    ticket_id: str
    channel: Channel
    customer_locale: str = "en"


class ReplyDelivery(StrEnum):
    QUEUED = "queued"
    """Written and handed to the gateways; nothing reported yet."""
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class ReplyStatusReported(EventData):
    """`support.reply_status`: what a gateway (or notify's SMTP sender) did with a reply."""

    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    ticket_id: str
    message_id: str
    status: ReplyDelivery = Field(description="sent | delivered | failed (queued is never reported)")
    reason: str | None = Field(default=None, max_length=1000)
    """Why it failed, in the gateway's words."""
    gateway: str = Field(default="", max_length=100)
    at: datetime


REPLY_EVENT_TYPES: dict[str, type[EventData]] = {"reply.requested": ReplyRequested}
REPLY_STATUS_EVENT_TYPES: dict[str, type[EventData]] = {"reply.status": ReplyStatusReported}
