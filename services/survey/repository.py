"""The survey service's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from runtime.reports import Period, bucket_sql
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.throttle import Circumstances, Decision


@dataclass(frozen=True)
class NewInvitation:
    survey_id: str
    shop_id: str
    kind: SurveyKind
    origin: str
    customer: dict[str, Any]
    customer_id: str | None
    customer_email: str | None
    order_id: str | None
    ticket_id: str | None
    channel: str | None
    category: str | None
    locale: str
    due_at: datetime
    agent_id: str | None = None
    team_id: str | None = None
    """The agent and team of the ticket a CSAT survey is about (when it was solved)."""


async def schedule(conn: Connection, inv: NewInvitation, now: datetime) -> bool:
    """False if this shop already has a survey of this kind about the same thing (a redelivered
    or repeated trigger): one order gets one NPS survey."""
    return bool(await schedule_many(conn, [(inv, now)]))


async def schedule_many(
    conn: Connection, invitations: Sequence[tuple[NewInvitation, datetime]]
) -> list[NewInvitation]:
    """`schedule` for many (invitation, created_at) pairs in one round trip, as if one after another:
    of several about the same (shop, kind, origin) the first wins. Returns those actually inserted."""
    first: dict[tuple[str, SurveyKind, str], tuple[NewInvitation, datetime]] = {}
    for inv, now in invitations:
        first.setdefault((inv.shop_id, inv.kind, inv.origin), (inv, now))
    if not first:
        return []
    rows = list(first.values())
    inserted = await conn.fetch(
        """INSERT INTO invitations (survey_id, shop_id, kind, origin, customer, customer_id, customer_email,
                                    order_id, ticket_id, channel, category, locale, due_at, created_at,
                                    agent_id, team_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[],
                                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                                $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[])
           ON CONFLICT (shop_id, kind, origin) DO NOTHING RETURNING survey_id""",
        [inv.survey_id for inv, _ in rows],
        [inv.shop_id for inv, _ in rows],
        [inv.kind.value for inv, _ in rows],
        [inv.origin for inv, _ in rows],
        [inv.customer for inv, _ in rows],
        [inv.customer_id for inv, _ in rows],
        [inv.customer_email for inv, _ in rows],
        [inv.order_id for inv, _ in rows],
        [inv.ticket_id for inv, _ in rows],
        [inv.channel for inv, _ in rows],
        [inv.category for inv, _ in rows],
        [inv.locale for inv, _ in rows],
        [inv.due_at for inv, _ in rows],
        [now for _, now in rows],
        [inv.agent_id for inv, _ in rows],
        [inv.team_id for inv, _ in rows],
    )
    ids = {row["survey_id"] for row in inserted}
    return [inv for inv, _ in rows if inv.survey_id in ids]


@dataclass(frozen=True)
class CancelledOrder:
    shop_id: str
    order_id: str
    cancelled_at: datetime


async def record_cancelled_orders(conn: Connection, cancelled: Sequence[CancelledOrder]) -> None:
    """Remember cancelled orders in one round trip; an order cancelled twice keeps its first time."""
    first: dict[tuple[str, str], CancelledOrder] = {}
    for c in cancelled:
        first.setdefault((c.shop_id, c.order_id), c)
    if not first:
        return
    await conn.execute(
        "INSERT INTO cancelled_orders (shop_id, order_id, cancelled_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
        [c.shop_id for c in first.values()],
        [c.order_id for c in first.values()],
        [c.cancelled_at for c in first.values()],
    )


async def upsert_ticket(
    conn: Connection,
    *,
    shop_id: str,
    ticket_id: str,
    customer_id: str | None,
    customer_email: str | None,
    order_id: str | None,
    channel: str,
    category: str,
    is_open: bool,
    at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO tickets (shop_id, ticket_id, customer_id, customer_email, order_id, channel, category,
                                is_open, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (shop_id, ticket_id) DO UPDATE SET
               customer_id = COALESCE(EXCLUDED.customer_id, tickets.customer_id),
               customer_email = COALESCE(EXCLUDED.customer_email, tickets.customer_email),
               order_id = COALESCE(EXCLUDED.order_id, tickets.order_id),
               channel = EXCLUDED.channel,
               category = EXCLUDED.category,
               is_open = EXCLUDED.is_open,
               updated_at = EXCLUDED.updated_at""",
        shop_id,
        ticket_id,
        customer_id,
        customer_email,
        order_id,
        channel,
        category,
        is_open,
        at,
    )


@dataclass(frozen=True)
class OriginTicket:
    channel: str
    category: str


async def tickets_of_orders(
    conn: Connection, orders: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], OriginTicket]:
    """The most recent ticket about each (shop, order), in one round trip: the origin a CES/NPS answer
    is broken down by. Orders without a ticket are absent."""
    keys = set(orders)
    if not keys:
        return {}
    found = await conn.fetch(
        """SELECT DISTINCT ON (t.shop_id, t.order_id) t.shop_id, t.order_id, t.channel, t.category
           FROM tickets t
           WHERE (t.shop_id, t.order_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY t.shop_id, t.order_id, t.updated_at DESC""",
        [shop for shop, _ in keys],
        [order for _, order in keys],
    )
    return {(r["shop_id"], r["order_id"]): OriginTicket(r["channel"], r["category"]) for r in found}


async def attach_origin_ticket(conn: Connection, inv: asyncpg.Record) -> asyncpg.Record:
    """An order's ticket may be known only after the survey was scheduled (orders and tickets are
    consumed independently): fill in its channel/category at send time if they are still missing."""
    if inv["channel"] is not None or inv["order_id"] is None:
        return inv
    updated = await conn.fetchrow(
        """UPDATE invitations i SET channel = t.channel, category = t.category
           FROM (SELECT channel, category FROM tickets WHERE shop_id = $2 AND order_id = $3
                 ORDER BY updated_at DESC LIMIT 1) t
           WHERE i.survey_id = $1 RETURNING i.*""",
        inv["survey_id"],
        inv["shop_id"],
        inv["order_id"],
    )
    return updated if updated is not None else inv


async def lock_due(conn: Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Due invitations, locked for this transaction; other replicas skip them instead of waiting."""
    return await conn.fetch(
        """SELECT * FROM invitations WHERE status = 'scheduled' AND due_at <= $1
           ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )


async def circumstances(conn: Connection, inv: asyncpg.Record) -> Circumstances:
    row = await conn.fetchrow(
        """SELECT
             EXISTS (SELECT 1 FROM cancelled_orders c
                     WHERE c.shop_id = $1 AND c.order_id = $2) AS cancelled,
             EXISTS (SELECT 1 FROM tickets t WHERE t.shop_id = $1 AND t.is_open
                       AND ((t.customer_id IS NOT NULL AND t.customer_id = $3)
                         OR (t.customer_email IS NOT NULL AND t.customer_email = $4))) AS open_ticket,
             (SELECT max(i.sent_at) FROM invitations i
              WHERE i.shop_id = $1 AND i.kind = $5 AND i.status = 'sent' AND i.survey_id <> $6
                AND ((i.customer_id IS NOT NULL AND i.customer_id = $3)
                  OR (i.customer_email IS NOT NULL AND i.customer_email = $4))) AS last_sent""",
        inv["shop_id"],
        inv["order_id"],
        inv["customer_id"],
        inv["customer_email"],
        inv["kind"],
        inv["survey_id"],
    )
    assert row is not None
    return Circumstances(
        order_cancelled=row["cancelled"],
        has_open_ticket=row["open_ticket"],
        last_survey_sent_at=row["last_sent"],
        has_email=inv["customer_email"] is not None,
    )


async def record_decision(conn: Connection, inv: asyncpg.Record, decision: Decision, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO decisions (survey_id, shop_id, kind, decision, reason, decided_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        inv["survey_id"],
        inv["shop_id"],
        inv["kind"],
        "sent" if decision.send else "suppressed",
        decision.reason.value,
        at,
    )


async def mark_sent(
    conn: Connection, survey_id: str, token_sha256: str, sent_at: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "UPDATE invitations SET status = 'sent', token_sha256 = $2, sent_at = $3, expires_at = $4 "
        "WHERE survey_id = $1",
        survey_id,
        token_sha256,
        sent_at,
        expires_at,
    )


async def mark_suppressed(conn: Connection, survey_id: str) -> None:
    await conn.execute("UPDATE invitations SET status = 'suppressed' WHERE survey_id = $1", survey_id)


async def record_send_failure(conn: Connection, survey_id: str, error: str, max_attempts: int) -> None:
    await conn.execute(
        """UPDATE invitations SET attempts = attempts + 1, last_error = $2,
               status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END
           WHERE survey_id = $1""",
        survey_id,
        error[:500],
        max_attempts,
    )


async def by_token(conn: Connection, token_sha256: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM invitations WHERE token_sha256 = $1", token_sha256)


async def claim_for_answer(conn: Connection, token_sha256: str, now: datetime) -> asyncpg.Record | None:
    """Atomically use the token: only one concurrent answer can win it."""
    return await conn.fetchrow(
        """UPDATE invitations SET answered_at = $2
           WHERE token_sha256 = $1 AND status = 'sent' AND answered_at IS NULL AND expires_at > $2
           RETURNING *""",
        token_sha256,
        now,
    )


@dataclass(frozen=True)
class StoredAnswer:
    survey_id: str
    shop_id: str
    kind: SurveyKind
    score: int
    speed: int | None
    accuracy: int | None
    comment: str | None
    channel: str | None
    category: str | None
    via: str
    answered_at: datetime
    agent_id: str | None = None
    team_id: str | None = None


async def insert_answer(conn: Connection, a: StoredAnswer) -> None:
    await conn.execute(
        """INSERT INTO answers (survey_id, shop_id, kind, score, speed, accuracy, comment, channel, category,
                                via, answered_at, agent_id, team_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        a.survey_id,
        a.shop_id,
        a.kind.value,
        a.score,
        a.speed,
        a.accuracy,
        a.comment,
        a.channel,
        a.category,
        a.via,
        a.answered_at,
        a.agent_id,
        a.team_id,
    )


# -- reports ---------------------------------------------------------------------------------------


async def score_counts(
    conn: Connection, shop_id: str, kind: SurveyKind, period: Period
) -> list[asyncpg.Record]:
    """Answers in the period grouped by (channel, category, score, bucket, agent, team); bucket NULL
    without a granularity."""
    bucket = bucket_sql("answered_at", "$5", "$6")
    return await conn.fetch(
        f"""SELECT channel, category, score, {bucket} AS bucket, agent_id, team_id, count(*)::int AS n
            FROM answers
            WHERE shop_id = $1 AND kind = $2 AND answered_at >= $3 AND answered_at < $4
            GROUP BY 1, 2, 3, 4, 5, 6""",  # noqa: S608
        shop_id,
        kind.value,
        period.since,
        period.until,
        period.granularity,
        period.zone,
    )


async def invitation_counts(
    conn: Connection, shop_id: str, kind: SurveyKind, period: Period
) -> list[asyncpg.Record]:
    """Invitations sent in the period and how many of them were answered, by channel/category and
    bucket (of the sending)."""
    bucket = bucket_sql("sent_at", "$5", "$6")
    return await conn.fetch(
        f"""SELECT channel, category, {bucket} AS bucket, agent_id, team_id,
                   count(*)::int AS invited, count(answered_at)::int AS answered
            FROM invitations
            WHERE shop_id = $1 AND kind = $2 AND status = 'sent' AND sent_at >= $3 AND sent_at < $4
            GROUP BY 1, 2, 3, 4, 5""",  # noqa: S608
        shop_id,
        kind.value,
        period.since,
        period.until,
        period.granularity,
        period.zone,
    )


async def decisions(conn: Connection, shop_id: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT d.survey_id, d.kind, d.decision, d.reason, d.decided_at, i.order_id, i.ticket_id
           FROM decisions d JOIN invitations i USING (survey_id)
           WHERE d.shop_id = $1 ORDER BY d.id DESC LIMIT $2""",
        shop_id,
        limit,
    )
