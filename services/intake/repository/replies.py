"""Replies: where a reply goes (the ticket's thread and e-mails), what the gateways reported of it,
which ticket a message answering one of ours belongs to, and the automatic e-mails left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.db import Connection
from schemas.v1.replies import ReplyStatusReported

from ..domain.replies import Conversation
from ..domain.ticket import Ticket
from .tickets import ticket_of


async def conversation(conn: Connection, shop_id: str, ticket_id: str, channel: str) -> Conversation:
    """The ticket's thread on `channel` and its e-mails' Message-IDs, in one round trip."""
    row = await conn.fetchrow(
        """SELECT (SELECT min(thread_key) FROM ticket_threads
                   WHERE shop_id = $1 AND ticket_id = $2 AND starts_with(thread_key, $3)) AS thread_key,
                  ARRAY(SELECT channel_message_id FROM messages
                        WHERE shop_id = $1 AND ticket_id = $2 AND channel = 'email'
                          AND channel_message_id IS NOT NULL
                        ORDER BY at, seq) AS email_ids,
                  (SELECT channel_message_id FROM messages
                   WHERE shop_id = $1 AND ticket_id = $2 AND channel = 'email' AND author = 'customer'
                     AND channel_message_id IS NOT NULL
                   ORDER BY at DESC, seq DESC LIMIT 1) AS parent""",
        shop_id,
        ticket_id,
        f"{channel}:",
    )
    assert row is not None
    thread_key: str | None = row["thread_key"]
    return Conversation(
        thread_id=thread_key.split(":", 1)[1] if thread_key else None,
        email_ids=tuple(row["email_ids"]),
        parent_email_id=row["parent"],
    )


async def answered_ticket(
    conn: Connection, shop_id: str, channel: str, message_ids: Sequence[str]
) -> str | None:
    """The ticket of the shop's latest message among `message_ids` on `channel` (an e-mail's
    In-Reply-To and References name ours and the customer's earlier ones), or None."""
    if not message_ids:
        return None
    found: str | None = await conn.fetchval(
        """SELECT ticket_id FROM messages
           WHERE shop_id = $1 AND channel = $2 AND channel_message_id = ANY($3::text[])
           ORDER BY at DESC, seq DESC LIMIT 1""",
        shop_id,
        channel,
        list(message_ids),
    )
    return found


@dataclass(frozen=True)
class Reported:
    """A reply a gateway reports on, with its ticket locked."""

    ticket: Ticket
    written_at: datetime
    delivery_status: str | None
    later_went_out: bool
    """A reply written after this one on the same ticket was reported sent or delivered."""


async def reply_for_update(conn: Connection, shop_id: str, message_id: str) -> Reported | None:
    """Lock the ticket the reply `message_id` is on now (a merge moves messages) and read the reply.
    The ticket first, as every other change of a ticket's messages locks it."""
    row = await conn.fetchrow(
        """SELECT t.*, m.at AS message_at, m.delivery_status AS message_delivery_status,
                  EXISTS (SELECT 1 FROM messages l
                          WHERE l.shop_id = m.shop_id AND l.ticket_id = m.ticket_id
                            AND l.delivery_status IN ('sent', 'delivered')
                            AND (l.at, l.seq) > (m.at, m.seq)) AS later_went_out
           FROM messages m JOIN tickets t ON t.shop_id = m.shop_id AND t.id = m.ticket_id
           WHERE m.shop_id = $1 AND m.id = $2 AND NOT m.internal AND m.author <> 'customer'
           FOR UPDATE OF t""",
        shop_id,
        message_id,
    )
    if row is None:
        return None
    return Reported(ticket_of(row), row["message_at"], row["message_delivery_status"], row["later_went_out"])


async def record_delivery(conn: Connection, report: ReplyStatusReported) -> None:
    await conn.execute(
        """UPDATE messages SET delivery_status = $3, delivery_reason = $4, delivery_gateway = $5,
                  delivery_updated_at = $6
           WHERE shop_id = $1 AND id = $2""",
        report.shop_id,
        report.message_id,
        report.status.value,
        report.reason,
        report.gateway or None,
        report.at,
    )


async def record_ignored_email(
    conn: Connection,
    shop_id: str,
    message_id: str | None,
    reason: str,
    sender: str | None,
    subject: str,
    at: datetime,
) -> tuple[bool, str]:
    """Keep an automatic e-mail; (whether it is new, the reason it was first recorded with)."""
    row = await conn.fetchrow(
        """WITH new AS (
               INSERT INTO ignored_emails (shop_id, message_id, reason, sender, subject, received_at)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (shop_id, message_id) WHERE message_id IS NOT NULL DO NOTHING
               RETURNING reason)
           SELECT true AS new, reason FROM new
           UNION ALL
           SELECT false, reason FROM ignored_emails WHERE shop_id = $1 AND message_id = $2
           LIMIT 1""",
        shop_id,
        message_id,
        reason,
        sender,
        subject,
        at,
    )
    assert row is not None
    return bool(row["new"]), str(row["reason"])
