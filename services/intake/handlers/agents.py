"""What agents do to tickets through the API: reply, note, change the status, reopen, merge."""

from __future__ import annotations

from typing import Any

from runtime.db import Connection
from schemas.v1.contacts import Attachment
from schemas.v1.tickets import Author, TicketStatus

from ..context import Context
from ..domain.ticket import Message, Ticket, TicketNotFound, refuse_self_merge
from ..repository import tickets
from .assignment import hand_out
from .replies import reply_to_customer
from .writes import apply, new_id

FINISHED = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})


async def _ticket(conn: Connection, shop_id: str, ticket_id: str) -> Ticket:
    ticket = await tickets.ticket_for_update(conn, shop_id, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


async def add_agent_message(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    ticket_id: str,
    body: str,
    *,
    internal: bool,
    author_name: str | None = None,
    attachments: tuple[dict[str, Any], ...] = (),
    agent_id: str | None = None,
) -> str:
    """A public reply or an internal note, by `agent_id` when an agent's token wrote it. Only a
    public reply is a response to the customer, and it goes to them on the ticket's channel
    (replies.reply_to_customer)."""
    if not internal:
        return await reply_to_customer(
            conn,
            ctx,
            shop_id,
            ticket_id,
            body,
            author_name=author_name,
            attachments=[Attachment.model_validate(a) for a in attachments],
            agent_id=agent_id,
        )
    ticket = await _ticket(conn, shop_id, ticket_id)
    message = Message(
        id=new_id("msg"),
        author=Author.AGENT,
        body=body,
        at=ctx.now(),
        internal=True,
        author_name=author_name,
        attachments=attachments,
        agent_id=agent_id,
    )
    await apply(conn, ctx, ticket.note(message))
    return message.id


async def change_status(
    conn: Connection, ctx: Context, shop_id: str, ticket_id: str, target: TicketStatus
) -> Ticket:
    """A finished ticket makes room for its agent: their team's waiting tickets are handed out."""
    change = (await _ticket(conn, shop_id, ticket_id)).set_status(target, ctx.now())
    await apply(conn, ctx, change)
    ticket = change.ticket
    if (
        ticket.status in FINISHED
        and "status" in change.changes
        and ticket.assignee_agent_id
        and ticket.team_id
    ):
        await hand_out(conn, ctx, shop_id, [ticket.team_id])
    return ticket


async def reopen(conn: Connection, ctx: Context, shop_id: str, ticket_id: str) -> Ticket:
    change = (await _ticket(conn, shop_id, ticket_id)).reopen(ctx.now())
    await apply(conn, ctx, change)
    return change.ticket


async def merge_tickets(
    conn: Connection, ctx: Context, shop_id: str, source_id: str, target_id: str
) -> Ticket:
    """Fold `source` into `target`: its messages and threads move, and it is closed for good."""
    refuse_self_merge(source_id, target_id)
    locked = await tickets.tickets_for_update(conn, shop_id, [source_id, target_id])
    for ticket_id in sorted((source_id, target_id)):
        if ticket_id not in locked:
            raise TicketNotFound(ticket_id)
    note = Message(
        id=new_id("msg"),
        author=Author.SYSTEM,
        body=f"Ticket {source_id} was merged into this ticket.",
        at=ctx.now(),
        internal=True,
    )
    closed, kept = locked[source_id].merge_into(locked[target_id], note)
    await tickets.move_conversation(conn, shop_id, source_id, target_id)
    await apply(conn, ctx, closed, kept)
    return kept.ticket
