"""A customer's contact from any channel: `POST /v1/contacts` and the `support.contacts` topic."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from schemas.v1.common import Email, EventData


class Channel(StrEnum):
    WEB_FORM = "web_form"
    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    SOCIAL = "social"


class Attachment(EventData):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(ge=0, le=50 * 1024 * 1024)
    url: str | None = Field(default=None, max_length=2000)


class ContactFields(EventData):
    """What a customer's message says, whichever way it arrives (HTTP body or event)."""

    channel: Channel
    customer_email: Email | None = None
    customer_phone: str | None = Field(default=None, max_length=32)
    customer_handle: str | None = Field(default=None, max_length=200)
    customer_name: str | None = Field(default=None, max_length=200)
    customer_locale: str = Field(default="en", max_length=35)
    order_id: str | None = Field(default=None, max_length=128)
    subject: str = Field(default="", max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    channel_message_id: str | None = Field(default=None, max_length=500)
    thread_id: str | None = Field(default=None, max_length=500)
    """E-mail Message-ID/References root, chat session id, social thread id."""
    references: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=50)
    """Channel message ids this message answers, the one it replies to first (e-mail In-Reply-To and
    References): it joins the ticket of the latest one the shop knows, ours or the customer's."""

    @model_validator(mode="after")
    def _someone_to_answer(self) -> Self:
        if not (self.customer_email or self.customer_phone or self.customer_handle):
            raise ValueError("one of customer_email, customer_phone or customer_handle is required")
        return self


class ContactReceived(ContactFields):
    """One inbound customer message. `channel_message_id` makes redelivery harmless."""

    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


CONTACT_EVENT_TYPES: dict[str, type[EventData]] = {"contact.received": ContactReceived}
