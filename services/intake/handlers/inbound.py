"""A raw e-mail in (`POST /v1/inbound/email`): a customer's mail becomes a contact, threaded into
the ticket whose messages it answers; an automatic mail (auto-reply, bounce, our own reply come
back) is recorded and goes no further, so it never opens a ticket nor gets an answer (no loops)."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.db import Connection
from runtime.metrics import on_commit
from schemas.v1.contacts import Attachment, Channel, ContactReceived

from .. import metrics
from ..context import Context
from ..domain.email import EmailRefused, InboundEmail, ignore_reason
from ..repository import replies
from .contacts import ContactOutcome, receive_contact
from .privacy import left_out_email


@dataclass(frozen=True)
class EmailOutcome:
    contact: ContactOutcome | None
    """What became of the mail as a contact; None when it was left out."""
    ignored: str | None = None
    """Why it was left out (domain/email.py's IgnoreReason)."""


def contact_of(mail: InboundEmail, shop_id: str) -> ContactReceived:
    """The contact a customer's e-mail is; EmailRefused('no_sender') without a sender address.
    pydantic's ValidationError for a sender address it refuses."""
    if mail.sender_email is None:
        raise EmailRefused("no_sender", "the message has no From address to answer")
    return ContactReceived(
        shop_id=shop_id,
        channel=Channel.EMAIL,
        customer_email=mail.sender_email,
        customer_name=mail.sender_name,
        subject=mail.subject,
        body=mail.text,
        attachments=[
            Attachment(filename=a.filename, content_type=a.content_type, size_bytes=a.size_bytes)
            for a in mail.attachments
        ],
        channel_message_id=mail.message_id,
        thread_id=mail.thread_root,
        references=list(mail.answers),
    )


async def receive_email(mail: InboundEmail, shop_id: str, conn: Connection, ctx: Context) -> EmailOutcome:
    reason = ignore_reason(mail, ctx.config.email_domain)
    if reason is not None:
        # an erased customer's auto-reply is kept without them (docs/privacy.md)
        sender, subject, message_id = await left_out_email(
            conn, shop_id, mail.sender_email, mail.subject, mail.message_id
        )
        new, first_reason = await replies.record_ignored_email(
            conn, shop_id, message_id, reason.value, sender, subject, ctx.now()
        )
        if new:
            on_commit(metrics.EMAILS_IGNORED.labels(reason.value).inc)
        return EmailOutcome(None, first_reason)
    contact = contact_of(mail, shop_id)
    return EmailOutcome(await receive_contact(contact, conn, ctx))
