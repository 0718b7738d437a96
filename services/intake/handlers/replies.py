"""Replies to the customer: the one path from "a public message on a ticket" to `ticket.replied`
(tickets.events) and `reply.requested` (support.replies), and what the gateways report back.

`reply_to_customer` is that path for every public message: an agent's reply through the API and an
automatic answer (`automatic=True`) alike. The message, its events and the outbound message are
written in the caller's transaction, so a reply is announced exactly when it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.contacts import Attachment
from schemas.v1.replies import ReplyStatusReported
from schemas.v1.tickets import Author, TicketReplied

from .. import metrics
from ..context import Context
from ..domain import replies
from ..domain.ticket import Message, TicketNotFound
from ..repository import replies as repo
from ..repository import tickets
from .writes import SOURCE, apply, known_shop, new_id


async def reply_to_customer(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    ticket_id: str,
    body: str,
    *,
    author: Author = Author.AGENT,
    author_name: str | None = None,
    attachments: Sequence[Attachment] = (),
    automatic: bool = False,
    agent_id: str | None = None,
) -> str:
    """Write a public message to the customer on the ticket and send it on the ticket's channel;
    returns the message id (what `reply.status` reports on). `agent_id`: the agent whose token
    wrote it (the message, its events and a first response are theirs)."""
    ticket = await tickets.ticket_for_update(conn, shop_id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    message = Message(
        id=new_id("msg"),
        author=author,
        body=body,
        at=ctx.now(),
        author_name=author_name,
        attachments=tuple(a.model_dump(mode="json") for a in attachments),
        automatic=automatic,
        agent_id=agent_id,
    )
    conversation = await repo.conversation(conn, shop_id, ticket_id, ticket.channel.value)
    change = replies.reply(ticket, message, conversation, ctx.config.email_domain, attachments)
    await apply(conn, ctx, change)
    replied = next(e for e in change.events if isinstance(e, TicketReplied))
    outbound = replies.requested(replied)
    event = make_event("reply.requested", SOURCE, outbound, subject=ticket_id, time=message.at)
    await enqueue(conn, ctx.replies_topic, event)
    on_commit(metrics.REPLIES.labels(ticket.channel.value, str(automatic).lower()).inc)
    return message.id


async def on_reply_status(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """A gateway's report on a reply: recorded on the message (a late 'sent' never hides a final
    status); a failure flags the ticket and is announced as `ticket.reply_failed`."""
    report: ReplyStatusReported = event.data
    known_shop(report.shop_id, ctx)
    found = await repo.reply_for_update(conn, report.shop_id, report.message_id)
    if found is None:
        raise Unprocessable(
            f"no reply {report.message_id!r} of shop {report.shop_id!r}",
            counted=metrics.REJECTED.labels("kafka", "unknown_reply").inc,
        )
    if not replies.takes_effect(found.delivery_status, report.status):
        return
    await repo.record_delivery(conn, report)
    change = replies.reported(found.ticket, found.written_at, report, later_went_out=found.later_went_out)
    await apply(conn, ctx, change)
    on_commit(metrics.REPLY_STATUS.labels(report.status.value).inc)
