"""A public message to the customer and what becomes of it on the channel.

`reply` is the one rule for every public message, an agent's or an automatic answer: the ticket's
reply (domain/ticket.py) plus `ticket.replied`, which says what to send, to whom and with which
threading references. `reported` is what a gateway's `reply.status` does to the message and the
ticket: a failed reply flags the ticket until a later reply goes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.v1.contacts import Attachment, Channel
from schemas.v1.replies import ReplyDelivery, ReplyRequested, ReplyStatusReported
from schemas.v1.tickets import ReplyContact, ReplyThreading, TicketReplied, TicketReplyFailed

from .ticket import Change, Message, Ticket

MAX_REFERENCES = 20
"""An e-mail's References keep the thread's first message and the latest ones (RFC 5322 §3.6.4
lets a long chain be shortened; the root is what most clients thread on)."""

_RANK = {
    ReplyDelivery.QUEUED: 0,
    ReplyDelivery.SENT: 1,
    ReplyDelivery.DELIVERED: 2,
    ReplyDelivery.FAILED: 2,
}


@dataclass(frozen=True)
class Conversation:
    """What the ticket's stored conversation says about where a reply goes (repository/replies.py)."""

    thread_id: str | None = None
    """The channel's own conversation id on the ticket (chat session, social thread, e-mail root)."""
    email_ids: tuple[str, ...] = ()
    """The Message-IDs of the ticket's e-mails, both ways, oldest first."""
    parent_email_id: str | None = None
    """The Message-ID of the customer's latest e-mail on the ticket: what the reply answers."""


def email_message_id(message_id: str, domain: str) -> str:
    """The Message-ID of the e-mail carrying reply `message_id`: unique (the message id is), and in
    CareLoop's own domain, so a copy of it coming back in is recognised as a loop."""
    return f"<{message_id}@{domain}>"


def threading(channel: Channel, message_id: str, conversation: Conversation, domain: str) -> ReplyThreading:
    """The channel's threading references of the reply `message_id`: for e-mail its own Message-ID,
    In-Reply-To the customer's latest e-mail and References the ticket's e-mails; none elsewhere."""
    if channel is not Channel.EMAIL:
        return ReplyThreading()
    chain = list(dict.fromkeys(conversation.email_ids))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return ReplyThreading(
        message_id=email_message_id(message_id, domain),
        in_reply_to=conversation.parent_email_id,
        references=chain,
    )


def reply(
    ticket: Ticket,
    message: Message,
    conversation: Conversation,
    domain: str,
    attachments: Sequence[Attachment],
) -> Change:
    """A public message to the customer: the ticket's reply, stored as queued for its channel (an
    e-mail under its own Message-ID, which the customer's answer will name), then `ticket.replied`."""
    refs = threading(ticket.channel, message.id, conversation, domain)
    stored = replace(
        message,
        internal=False,
        channel=ticket.channel.value,
        channel_message_id=refs.message_id,
        delivery_status=ReplyDelivery.QUEUED.value,
    )
    change = ticket.reply(stored)
    customer = ticket.customer
    replied = TicketReplied(
        **change.ticket.event_fields(),
        message_id=stored.id,
        author=stored.author,
        author_name=stored.author_name,
        author_agent_id=stored.agent_id,
        text=stored.body,
        subject=ticket.subject,
        attachments=list(attachments),
        contact=ReplyContact(
            email=customer.email,
            phone=customer.phone,
            handle=customer.handle,
            name=customer.name,
            thread_id=conversation.thread_id,
        ),
        threading=refs,
        automatic=stored.automatic,
        at=stored.at,
    )
    return replace(change, events=(*change.events, replied))


def requested(replied: TicketReplied) -> ReplyRequested:
    """The same reply as the channel gateways' outbound message (support.replies)."""
    return ReplyRequested(
        shop_id=replied.shop_id,
        ticket_id=replied.ticket_id,
        channel=replied.channel,
        customer_locale=replied.customer_locale,
        message_id=replied.message_id,
        author=replied.author,
        author_name=replied.author_name,
        text=replied.text,
        subject=replied.subject,
        attachments=replied.attachments,
        contact=replied.contact,
        threading=replied.threading,
        automatic=replied.automatic,
        at=replied.at,
    )


def takes_effect(current: str | None, reported: ReplyDelivery) -> bool:
    """Whether a report changes the message's recorded status. Reports may arrive out of order: a
    late 'sent' never hides 'delivered' or 'failed', and the same status twice changes nothing."""
    if current is None:
        return True
    now = ReplyDelivery(current)
    return reported is not now and _RANK[reported] >= _RANK[now]


def reported(
    ticket: Ticket, written_at: datetime, report: ReplyStatusReported, *, later_went_out: bool = False
) -> Change:
    """What a gateway's report on the reply written at `written_at` does to the ticket: a failure is
    announced and flags it, unless a later reply already went out (`later_went_out`) or a later
    one's failure flags it; a reply that went out clears a flag of an earlier one."""
    failed_at = ticket.reply_failed_at
    if report.status is ReplyDelivery.FAILED:
        flag = not later_went_out and (failed_at is None or failed_at < written_at)
        after = replace(ticket, reply_failed_at=written_at) if flag else ticket
        event = TicketReplyFailed(
            **after.event_fields(),
            message_id=report.message_id,
            reason=report.reason,
            gateway=report.gateway,
            at=report.at,
        )
        return Change(after, {"reply_failed_at": written_at} if flag else {}, (event,))
    if failed_at is not None and written_at >= failed_at:
        return Change(replace(ticket, reply_failed_at=None), {"reply_failed_at": None})
    return Change(ticket)
