"""What the platform adapters store: the shops' platform secrets, the deliveries seen, each order's
state, and the deliveries kept (dead letters, and those waiting for their order). Every query names
the shop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from runtime.db import Connection
from schemas.v1.common import Customer

from ..domain.platforms.deliveries import OrderFacts, OrderState, Platform, Position


@dataclass(frozen=True)
class Kept:
    """A delivery kept with its raw body, to map again (a waiting one) or to show (a dead letter)."""

    id: int
    delivery_key: str
    topic: str
    payload: bytes
    signalled_at: datetime | None
    received_at: datetime


# -- secrets ---------------------------------------------------------------------------------------


async def secrets_of(conn: Connection, shop_id: str, platform: Platform) -> list[str]:
    rows = await conn.fetch(
        "SELECT secret FROM platform_secrets WHERE shop_id = $1 AND platform = $2", shop_id, platform.value
    )
    return [r["secret"] for r in rows]


async def add_secret(
    conn: Connection, shop_id: str, platform: Platform, secret: str, now: datetime
) -> asyncpg.Record:
    """The secret's row, added now or already there (adding a secret twice keeps one)."""
    row = await conn.fetchrow(
        """INSERT INTO platform_secrets (shop_id, platform, secret, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (shop_id, platform, secret) DO UPDATE SET secret = excluded.secret
           RETURNING id, platform, secret, created_at""",
        shop_id,
        platform.value,
        secret,
        now,
    )
    assert row is not None
    return row


async def count_secrets(conn: Connection, shop_id: str, platform: Platform) -> int:
    found = await conn.fetchval(
        "SELECT count(*) FROM platform_secrets WHERE shop_id = $1 AND platform = $2", shop_id, platform.value
    )
    return int(found)


async def list_secrets(conn: Connection, shop_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, platform, secret, created_at FROM platform_secrets WHERE shop_id = $1 ORDER BY id",
        shop_id,
    )


async def delete_secret(conn: Connection, shop_id: str, secret_id: int) -> bool:
    found = await conn.fetchval(
        "DELETE FROM platform_secrets WHERE shop_id = $1 AND id = $2 RETURNING id", shop_id, secret_id
    )
    return found is not None


# -- deliveries ------------------------------------------------------------------------------------


async def record_delivery(
    conn: Connection, shop_id: str, platform: Platform, key: str, topic: str, at: datetime
) -> bool:
    """False if this delivery was received before. A concurrent twin waits on the key's index until
    the first one's transaction ends, then finds it."""
    inserted = await conn.fetchval(
        """INSERT INTO platform_deliveries (shop_id, platform, delivery_key, topic, outcome, received_at)
           VALUES ($1, $2, $3, $4, 'received', $5) ON CONFLICT DO NOTHING RETURNING true""",
        shop_id,
        platform.value,
        key,
        topic,
        at,
    )
    return bool(inserted)


async def set_outcome(conn: Connection, shop_id: str, platform: Platform, key: str, outcome: str) -> None:
    await conn.execute(
        """UPDATE platform_deliveries SET outcome = $4
           WHERE shop_id = $1 AND platform = $2 AND delivery_key = $3""",
        shop_id,
        platform.value,
        key,
        outcome,
    )


async def forget_deliveries(conn: Connection, before: datetime) -> int:
    """Forget deliveries received before `before`: no platform retries one that old."""
    deleted = await conn.fetchval(
        "WITH gone AS (DELETE FROM platform_deliveries WHERE received_at < $1 RETURNING 1)"
        " SELECT count(*) FROM gone",
        before,
    )
    return int(deleted)


# -- orders ----------------------------------------------------------------------------------------


def _position(at: datetime | None, rank: int | None, key: str | None) -> Position | None:
    return None if at is None or rank is None or key is None else Position(at, rank, key)


async def lock_order(
    conn: Connection, shop_id: str, platform: Platform, platform_order_id: str
) -> OrderState:
    """The order's state, its row locked until the transaction ends (created empty if new, so two
    deliveries of one new order also wait for each other). Without its waiting deliveries."""
    row = await conn.fetchrow(
        """INSERT INTO platform_orders (shop_id, platform, platform_order_id) VALUES ($1, $2, $3)
           ON CONFLICT (shop_id, platform, platform_order_id)
               DO UPDATE SET platform_order_id = excluded.platform_order_id
           RETURNING *""",
        shop_id,
        platform.value,
        platform_order_id,
    )
    assert row is not None
    facts = None
    if row["customer"] is not None and row["order_id"] is not None:
        facts = OrderFacts(row["order_id"], Customer.model_validate(row["customer"]))
    return OrderState(
        facts=facts,
        facts_at=_position(row["facts_at"], row["facts_rank"], row["facts_key"]),
        position=_position(row["position_at"], row["position_rank"], row["position_key"]),
        status=row["status"],
        told=frozenset(row["told"]),
    )


async def save_order(
    conn: Connection, shop_id: str, platform: Platform, platform_order_id: str, state: OrderState
) -> None:
    facts, facts_at, position = state.facts, state.facts_at, state.position
    await conn.execute(
        """UPDATE platform_orders SET order_id = $4, customer = $5, facts_at = $6, facts_rank = $7,
               facts_key = $8, position_at = $9, position_rank = $10, position_key = $11, status = $12,
               told = $13
           WHERE shop_id = $1 AND platform = $2 AND platform_order_id = $3""",
        shop_id,
        platform.value,
        platform_order_id,
        facts.order_id if facts else None,
        facts.customer.model_dump(mode="json", exclude_none=True) if facts else None,
        facts_at.at if facts_at else None,
        facts_at.rank if facts_at else None,
        facts_at.key if facts_at else None,
        position.at if position else None,
        position.rank if position else None,
        position.key if position else None,
        state.status,
        sorted(state.told),
    )


# -- kept deliveries -------------------------------------------------------------------------------


async def keep(
    conn: Connection,
    shop_id: str,
    platform: Platform,
    kept: Kept,
    reason: str,
    waiting_for: str | None = None,
) -> None:
    """Keep a delivery as a dead letter, or as waiting for the platform's order `waiting_for`."""
    await conn.execute(
        """INSERT INTO platform_dead_letters (shop_id, platform, delivery_key, topic, reason, payload,
               signalled_at, waiting_for, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING""",
        shop_id,
        platform.value,
        kept.delivery_key,
        kept.topic,
        reason,
        kept.payload,
        kept.signalled_at,
        waiting_for,
        kept.received_at,
    )


async def waiting_for(
    conn: Connection, shop_id: str, platform: Platform, platform_order_id: str
) -> list[Kept]:
    rows = await conn.fetch(
        """SELECT id, delivery_key, topic, payload, signalled_at, received_at FROM platform_dead_letters
           WHERE shop_id = $1 AND platform = $2 AND waiting_for = $3 ORDER BY id""",
        shop_id,
        platform.value,
        platform_order_id,
    )
    return [
        Kept(r["id"], r["delivery_key"], r["topic"], bytes(r["payload"]), r["signalled_at"], r["received_at"])
        for r in rows
    ]


async def release(
    conn: Connection, shop_id: str, platform: Platform, released: Sequence[tuple[Kept, str]]
) -> None:
    """Waiting deliveries applied now: no longer kept, and their deliveries' outcome is what applying
    them came to, in one statement."""
    if not released:
        return
    await conn.execute(
        """WITH gone AS (
               DELETE FROM platform_dead_letters WHERE shop_id = $1 AND id = ANY($3::bigint[]))
           UPDATE platform_deliveries SET outcome = o.outcome
           FROM unnest($4::text[], $5::text[]) AS o(delivery_key, outcome)
           WHERE shop_id = $1 AND platform = $2 AND platform_deliveries.delivery_key = o.delivery_key""",
        shop_id,
        platform.value,
        [kept.id for kept, _ in released],
        [kept.delivery_key for kept, _ in released],
        [outcome for _, outcome in released],
    )


async def reject(conn: Connection, shop_id: str, rejected: Sequence[tuple[int, str]]) -> None:
    """Waiting deliveries that cannot become events: dead letters now, with the reason."""
    if rejected:
        await conn.execute(
            """UPDATE platform_dead_letters SET waiting_for = NULL, reason = r.reason
               FROM unnest($2::bigint[], $3::text[]) AS r(id, reason)
               WHERE shop_id = $1 AND platform_dead_letters.id = r.id""",
            shop_id,
            [id_ for id_, _ in rejected],
            [reason for _, reason in rejected],
        )


async def dead_letters(
    conn: Connection, shop_id: str, platform: Platform | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    """The shop's kept deliveries, newest first."""
    return await conn.fetch(
        """SELECT id, platform, delivery_key, topic, reason, payload, waiting_for, received_at
           FROM platform_dead_letters
           WHERE shop_id = $1 AND ($2::text IS NULL OR platform = $2)
           ORDER BY received_at DESC, id DESC LIMIT $3 OFFSET $4""",
        shop_id,
        platform.value if platform else None,
        limit,
        offset,
    )
