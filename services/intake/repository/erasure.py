"""Intake's own rows about a customer (docs/privacy.md): erased in place (rows stay, so every count
and KPI stays right; texts read '[erased]', contact details are gone, ids and keys pseudonymous) or
exported as JSON; and message texts purged by the shops' retention.

Matched by any identity of the request: its tickets (by id, customer id, e-mail or the customer
keys of its contact details), its orders (by id, customer id or e-mail), the inbound e-mails left
out from its addresses, the platform webhooks' order state and dead letters naming it. A shop-wide
request (`whole_shop`) matches every row of the shop.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection
from runtime.erasure import contains
from runtime.privacy import ERASED, ExportRows, Subject, pseudonym, rows_of

from .privacy import Known

PURGED = "[purged]"
"""What a message text reads once the shop's retention removed it."""

_TICKETS = """shop_id = $1 AND ($2 OR id = ANY($3::text[]) OR customer_id = ANY($4::text[])
               OR lower(customer_email) = ANY($5::text[]) OR customer_key = ANY($6::text[]))"""
_ORDERS = """shop_id = $1 AND ($2 OR order_id = ANY($3::text[]) OR customer_id = ANY($4::text[])
              OR lower(customer_email) = ANY($5::text[]))"""
_PLATFORM_ORDERS = """shop_id = $1 AND ($2 OR order_id = ANY($3::text[])
                       OR customer->>'id' = ANY($4::text[]) OR lower(customer->>'email') = ANY($5::text[]))"""
_HASHED = "CASE WHEN {c} IS NULL OR {c} LIKE 'erased:%' THEN {c} ELSE 'erased:' || md5({c}) END"
"""A channel's message or thread id made unreadable, still unique (threading and dedupe hold)."""


def _known(subject: Subject) -> Known:
    return Known(set(subject.customer_ids), set(subject.emails), set(subject.phones), set(subject.order_ids))


def key_pseudonym(shop_id: str, key: str) -> str:
    """A ticket's customer key once erased: what a later contact of the same erased customer gets
    (runtime.privacy.contact_pseudonym), so their tickets still group together."""
    kind, _, value = key.partition(":")
    if kind == "customer":
        return f"customer:{pseudonym(shop_id, value)}"
    return f"handle:{pseudonym(shop_id, value)}"


async def _matched_tickets(conn: Connection, subject: Subject, columns: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {columns} FROM tickets WHERE {_TICKETS} ORDER BY id FOR UPDATE",  # noqa: S608
        subject.shop_id,
        subject.whole_shop,
        list(subject.ticket_ids),
        list(subject.customer_ids),
        list(subject.emails),
        _known(subject).keys(),
    )


def _args(subject: Subject) -> tuple[Any, ...]:
    return (
        subject.shop_id,
        subject.whole_shop,
        list(subject.order_ids),
        list(subject.customer_ids),
        list(subject.emails),
    )


def _count(status: str) -> int:
    return int(status.split()[-1])


async def erase(conn: Connection, subject: Subject) -> dict[str, int]:
    shop = subject.shop_id
    tickets = await _matched_tickets(conn, subject, "id, customer_key, customer_id")
    ids = [t["id"] for t in tickets]
    counts = {"tickets": await _erase_tickets(conn, shop, tickets)}
    counts["messages"] = _count(
        await conn.execute(
            f"""UPDATE messages SET body = $3, subject = CASE WHEN subject = '' THEN '' ELSE $3 END,
                       attachments = '[]'::jsonb, delivery_reason = NULL,
                       author_name = CASE WHEN author = 'customer' THEN NULL ELSE author_name END,
                       channel_message_id = {_HASHED.format(c="channel_message_id")}
                WHERE shop_id = $1
                  AND (ticket_id = ANY($2::text[]) OR original_ticket_id = ANY($2::text[]))""",  # noqa: S608
            shop,
            ids,
            ERASED,
        )
    )
    await conn.execute(
        f"""UPDATE ticket_threads SET thread_key = {_HASHED.format(c="thread_key")}
            WHERE shop_id = $1 AND ticket_id = ANY($2::text[])""",  # noqa: S608
        shop,
        ids,
    )
    counts["orders"] = await _erase_orders(conn, subject)
    counts["ignored_emails"] = _count(
        await conn.execute(
            f"""UPDATE ignored_emails SET sender = NULL, subject = CASE WHEN subject = '' THEN '' ELSE $4 END,
                       message_id = {_HASHED.format(c="message_id")}
                WHERE shop_id = $1 AND ($2 OR lower(sender) = ANY($3::text[]))""",  # noqa: S608
            shop,
            subject.whole_shop,
            list(subject.emails),
            ERASED,
        )
    )
    counts["platform_orders"], platform_ids = await _erase_platform_orders(conn, subject)
    counts["platform_dead_letters"] = await _erase_platform_dead_letters(conn, subject, platform_ids)
    counts["privacy_exports"] = _count(
        await conn.execute(
            """UPDATE privacy_parts p SET data = NULL, data_removed = 'erased'
               FROM privacy_requests r
               WHERE p.request_id = r.id AND r.shop_id = $1 AND p.data IS NOT NULL
                 AND ($2 OR r.subject_digests && $3::text[])""",
            shop,
            subject.whole_shop,
            subject.digests(),
        )
    )
    return counts


async def _erase_tickets(conn: Connection, shop: str, tickets: list[asyncpg.Record]) -> int:
    return _count(
        await conn.execute(
            """UPDATE tickets t SET customer_key = u.key, customer_id = u.customer_id,
                   customer_email = NULL, customer_phone = NULL, customer_handle = NULL,
                   customer_name = NULL, subject = CASE WHEN t.subject = '' THEN '' ELSE $5 END
               FROM unnest($2::text[], $3::text[], $4::text[]) AS u (id, key, customer_id)
               WHERE t.shop_id = $1 AND t.id = u.id""",
            shop,
            [t["id"] for t in tickets],
            [key_pseudonym(shop, t["customer_key"]) for t in tickets],
            [pseudonym(shop, t["customer_id"]) if t["customer_id"] else None for t in tickets],
            ERASED,
        )
    )


async def _erase_orders(conn: Connection, subject: Subject) -> int:
    shop = subject.shop_id
    orders = await conn.fetch(
        f"SELECT order_id, customer_id FROM orders WHERE {_ORDERS} ORDER BY order_id FOR UPDATE",  # noqa: S608
        *_args(subject),
    )
    return _count(
        await conn.execute(
            """UPDATE orders o SET customer_id = u.customer_id, customer_email = NULL
               FROM unnest($2::text[], $3::text[]) AS u (order_id, customer_id)
               WHERE o.shop_id = $1 AND o.order_id = u.order_id""",
            shop,
            [o["order_id"] for o in orders],
            [pseudonym(shop, o["customer_id"]) for o in orders],
        )
    )


async def _erase_platform_orders(conn: Connection, subject: Subject) -> tuple[int, list[str]]:
    shop = subject.shop_id
    rows = await conn.fetch(
        f"""SELECT platform, platform_order_id, customer FROM platform_orders
            WHERE {_PLATFORM_ORDERS} ORDER BY platform, platform_order_id FOR UPDATE""",  # noqa: S608
        *_args(subject),
    )
    erased = [
        json.dumps(
            {
                "id": pseudonym(shop, str(r["customer"].get("id") or "unknown")),
                "locale": r["customer"].get("locale"),
            }
        )
        if isinstance(r["customer"], dict)
        else None
        for r in rows
    ]
    await conn.execute(
        """UPDATE platform_orders p SET customer = u.customer::jsonb
           FROM unnest($2::text[], $3::text[], $4::text[]) AS u (platform, platform_order_id, customer)
           WHERE p.shop_id = $1 AND p.platform = u.platform AND p.platform_order_id = u.platform_order_id""",
        shop,
        [r["platform"] for r in rows],
        [r["platform_order_id"] for r in rows],
        erased,
    )
    return len(rows), [r["platform_order_id"] for r in rows]


async def _erase_platform_dead_letters(conn: Connection, subject: Subject, platform_ids: list[str]) -> int:
    """Kept webhook bodies naming the customer's addresses, or waiting for one of their orders, lose
    their bytes (the row and when it came stay)."""
    return _count(
        await conn.execute(
            f"""UPDATE platform_dead_letters SET payload = ''::bytea, reason = $5
                WHERE shop_id = $1 AND octet_length(payload) > 0
                  AND ($2 OR waiting_for = ANY($4::text[])
                       OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS n WHERE {contains("payload", "n")}))""",  # noqa: S608
            subject.shop_id,
            subject.whole_shop,
            list(subject.emails),
            platform_ids,
            "payload erased by a privacy request",
        )
    )


async def export(conn: Connection, subject: Subject) -> ExportRows:
    shop = subject.shop_id
    tickets = await _matched_tickets(conn, subject, "*")
    ids = [t["id"] for t in tickets]
    messages = await conn.fetch(
        """SELECT id, ticket_id, author, internal, channel, channel_message_id, author_name, subject,
                  body, attachments, at, automatic, delivery_status
           FROM messages
           WHERE shop_id = $1 AND (ticket_id = ANY($2::text[]) OR original_ticket_id = ANY($2::text[]))
           ORDER BY seq""",
        shop,
        ids,
    )
    orders = await conn.fetch(f"SELECT * FROM orders WHERE {_ORDERS} ORDER BY order_id", *_args(subject))  # noqa: S608
    ignored = await conn.fetch(
        """SELECT message_id, reason, sender, subject, received_at FROM ignored_emails
           WHERE shop_id = $1 AND ($2 OR lower(sender) = ANY($3::text[])) ORDER BY id""",
        shop,
        subject.whole_shop,
        list(subject.emails),
    )
    platform = await conn.fetch(
        f"""SELECT platform, platform_order_id, order_id, customer, status FROM platform_orders
            WHERE {_PLATFORM_ORDERS} ORDER BY platform, platform_order_id""",  # noqa: S608
        *_args(subject),
    )
    return {
        "tickets": rows_of(tickets),
        "messages": rows_of(messages),
        "orders": rows_of(orders),
        "ignored_emails": rows_of(ignored),
        "platform_orders": rows_of(platform),
    }


# -- retention -------------------------------------------------------------------------------------


async def purge_message_bodies(conn: Connection, shop_id: str, before: datetime, batch: int) -> int:
    """Replace the texts of up to `batch` of the shop's messages written before `before`, oldest
    first, from where the last purge stopped; the rows stay. Returns how many were read."""
    done = await conn.fetchrow(
        "SELECT done_at, done_seq FROM retention_progress WHERE shop_id = $1 AND kind = 'message_body'",
        shop_id,
    )
    due = await conn.fetch(
        """UPDATE messages m SET body = $5, subject = CASE WHEN m.subject = '' THEN '' ELSE $5 END,
                  attachments = '[]'::jsonb
           FROM (SELECT seq FROM messages
                 WHERE shop_id = $1 AND at < $2 AND (at, seq) > ($3, $4)
                 ORDER BY at, seq LIMIT $6) AS due
           WHERE m.seq = due.seq
           RETURNING m.at, m.seq""",
        shop_id,
        before,
        done["done_at"] if done else datetime.min.replace(tzinfo=before.tzinfo),
        done["done_seq"] if done else 0,
        PURGED,
        batch,
    )
    if due:
        last = max(due, key=lambda r: (r["at"], r["seq"]))
        await conn.execute(
            """INSERT INTO retention_progress (shop_id, kind, done_at, done_seq)
               VALUES ($1, 'message_body', $2, $3)
               ON CONFLICT (shop_id, kind) DO UPDATE SET done_at = $2, done_seq = $3""",
            shop_id,
            last["at"],
            last["seq"],
        )
    return len(due)
