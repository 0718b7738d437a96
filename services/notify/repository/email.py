"""SQL of e-mail replies: the shops' SMTP relays and the queue of sends (queued by the consumer,
claimed and finished by the e-mail worker). Every query a shop reaches is scoped by its id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from services.notify.domain.mail import OutgoingEmail
from services.notify.smtp import Relay

WAKE_CHANNEL = "careloop_notify_emails"
RELAY_COLUMNS = "host, port, starttls, username, password, from_address, from_name"
_RELAY_AS_R = ", ".join(f"r.{c} AS r_{c}" for c in RELAY_COLUMNS.split(", "))


def relay_of(row: Mapping[str, Any] | asyncpg.Record) -> Relay:
    return Relay(
        host=row["host"],
        port=row["port"],
        starttls=row["starttls"],
        username=row["username"],
        password=row["password"],
        from_address=row["from_address"],
        from_name=row["from_name"],
    )


# -- relays ----------------------------------------------------------------------------------------
async def put_relay(conn: Connection, shop_id: str, relay: Relay, now: datetime) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO email_relays (shop_id, host, port, starttls, username, password, from_address,
                                     from_name, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
           ON CONFLICT (shop_id) DO UPDATE SET host = $2, port = $3, starttls = $4, username = $5,
               password = $6, from_address = $7, from_name = $8, updated_at = $9
           RETURNING *""",
        shop_id,
        relay.host,
        relay.port,
        relay.starttls,
        relay.username,
        relay.password,
        relay.from_address,
        relay.from_name,
        now,
    )
    assert row is not None
    return row


async def get_relay(conn: Connection, shop_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM email_relays WHERE shop_id = $1", shop_id)


async def delete_relay(conn: Connection, shop_id: str) -> bool:
    return bool(await conn.fetchval("DELETE FROM email_relays WHERE shop_id = $1 RETURNING true", shop_id))


async def shops_with_relay(conn: Connection, shop_ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT shop_id FROM email_relays WHERE shop_id = ANY($1::text[])", shop_ids)
    return {r["shop_id"] for r in rows}


# -- the queue -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewSend:
    id: str
    shop_id: str
    event_id: str
    ticket_id: str
    message_id: str
    mail: OutgoingEmail
    created_at: datetime


async def queue_sends(conn: Connection, sends: list[NewSend]) -> int:
    """Queue the sends (an event already queued is skipped) and wake the workers; how many are new."""
    if not sends:
        return 0
    queued = await conn.fetchval(
        f"""WITH new AS (
                INSERT INTO email_sends (id, shop_id, event_id, ticket_id, message_id, to_address, to_name,
                    subject, body, header_message_id, in_reply_to, references_ids, automatic, written_at,
                    next_attempt_at, created_at)
                SELECT s.id, s.shop_id, s.event_id, s.ticket_id, s.message_id, s.to_address, s.to_name,
                       s.subject, s.body, s.header_message_id, s.in_reply_to,
                       ARRAY(SELECT jsonb_array_elements_text(s.refs::jsonb)), s.automatic, s.written_at,
                       s.created_at, s.created_at
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                            $13::boolean[], $14::timestamptz[], $15::timestamptz[])
                     AS s(id, shop_id, event_id, ticket_id, message_id, to_address, to_name, subject, body,
                          header_message_id, in_reply_to, refs, automatic, written_at, created_at)
                ON CONFLICT (shop_id, event_id) DO NOTHING
                RETURNING 1)
            SELECT count(*) FROM new, pg_notify('{WAKE_CHANNEL}', '')""",  # noqa: S608
        [s.id for s in sends],
        [s.shop_id for s in sends],
        [s.event_id for s in sends],
        [s.ticket_id for s in sends],
        [s.message_id for s in sends],
        [s.mail.to_address for s in sends],
        [s.mail.to_name for s in sends],
        [s.mail.subject for s in sends],
        [s.mail.text for s in sends],
        [s.mail.message_id for s in sends],
        [s.mail.in_reply_to for s in sends],
        [json.dumps(list(s.mail.references)) for s in sends],  # one JSON array each: ragged lists
        [s.mail.automatic for s in sends],
        [s.mail.written_at for s in sends],
        [s.created_at for s in sends],
    )
    return int(queued or 0)


@dataclass(frozen=True)
class ClaimedSend:
    id: str
    shop_id: str
    ticket_id: str
    message_id: str
    mail: OutgoingEmail
    attempts: int
    """Attempts made, this one included."""
    claim_token: str
    relay: Relay | None
    """The shop's relay now (None: it was removed since the send was queued)."""


async def claim(
    conn: Connection, now: datetime, limit: int, token: str, lease_seconds: float
) -> list[ClaimedSend]:
    """Due sends (pending, or taken by a worker whose lease ran out), oldest due first, with their
    shop's relay, in one statement."""
    rows = await conn.fetch(
        f"""WITH claimed AS (
                UPDATE email_sends s SET status = 'sending', claim_token = $3, attempts = s.attempts + 1,
                       lease_until = clock_timestamp() + make_interval(secs => $4)
                FROM (SELECT id FROM email_sends
                      WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
                        AND (status = 'pending' OR lease_until < clock_timestamp())
                      ORDER BY next_attempt_at LIMIT $2
                      FOR UPDATE SKIP LOCKED) due
                WHERE s.id = due.id
                RETURNING s.*)
            SELECT c.*, r.shop_id IS NOT NULL AS has_relay, {_RELAY_AS_R}
            FROM claimed c LEFT JOIN email_relays r ON r.shop_id = c.shop_id""",  # noqa: S608
        now,
        limit,
        token,
        lease_seconds,
    )
    return [
        ClaimedSend(
            id=r["id"],
            shop_id=r["shop_id"],
            ticket_id=r["ticket_id"],
            message_id=r["message_id"],
            mail=OutgoingEmail(
                to_address=r["to_address"],
                to_name=r["to_name"],
                subject=r["subject"],
                text=r["body"],
                message_id=r["header_message_id"],
                in_reply_to=r["in_reply_to"],
                references=tuple(r["references_ids"]),
                automatic=r["automatic"],
                written_at=r["written_at"],
            ),
            attempts=r["attempts"],
            claim_token=token,
            relay=relay_of({c: r[f"r_{c}"] for c in RELAY_COLUMNS.split(", ")}) if r["has_relay"] else None,
        )
        for r in rows
    ]


async def finish(
    conn: Connection, send_id: str, token: str, status: str, now: datetime, error: str | None
) -> bool:
    """Mark a claimed send sent or dead; False if it is no longer this claim's."""
    return bool(
        await conn.fetchval(
            """UPDATE email_sends SET status = $3, finished_at = $4, last_error = $5, claim_token = NULL,
                      lease_until = NULL
               WHERE id = $1 AND claim_token = $2 AND status = 'sending' RETURNING true""",
            send_id,
            token,
            status,
            now,
            error,
        )
    )


async def reschedule(conn: Connection, send_id: str, token: str, at: datetime, error: str) -> bool:
    return bool(
        await conn.fetchval(
            """UPDATE email_sends SET status = 'pending', next_attempt_at = $3, last_error = $4,
                      claim_token = NULL, lease_until = NULL
               WHERE id = $1 AND claim_token = $2 AND status = 'sending' RETURNING true""",
            send_id,
            token,
            at,
            error,
        )
    )


async def hand_back(conn: Connection, send_ids: list[str]) -> None:
    """Sends a stopping worker did not finish: claimable again at once (the attempt is not counted)."""
    await conn.execute(
        """UPDATE email_sends SET status = 'pending', attempts = greatest(attempts - 1, 0),
                  claim_token = NULL, lease_until = NULL
           WHERE id = ANY($1::text[]) AND status = 'sending'""",
        send_ids,
    )


async def list_sends(conn: Connection, shop_id: str, status: str | None, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, ticket_id, message_id, to_address, subject, header_message_id, status, attempts,
                  next_attempt_at, last_error, created_at, finished_at
           FROM email_sends WHERE shop_id = $1 AND ($2::text IS NULL OR status = $2)
           ORDER BY created_at DESC, id DESC LIMIT $3""",
        shop_id,
        status,
        limit,
    )


async def purge_finished(conn: Connection, before: datetime, batch: int) -> int:
    rows = await conn.fetch(
        """DELETE FROM email_sends WHERE id IN (
               SELECT id FROM email_sends WHERE status IN ('sent', 'dead') AND finished_at < $1 LIMIT $2)
           RETURNING 1""",
        before,
        batch,
    )
    return len(rows)
