"""notify's rows about a customer (docs/privacy.md), and the shops' retention of what it keeps for
replay.

A customer's deliveries are found by their order or ticket (the delivery's order key) or by the
customer's id or address in the body; erased, a body keeps its event's type, time and every field
that is not personal (runtime.privacy.scrub), the rendered message is dropped, and the receivers'
answers to it are erased. Their reply e-mails lose address, name, subject and text; one not sent
yet never will be.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from runtime.db import Connection
from runtime.erasure import contains
from runtime.privacy import ERASED, ExportRows, Subject, rows_of, scrub

PURGED = "[purged]"
_STUB = """convert_to(json_build_object('type', event_type, 'timestamp', event_time,
                                   'data', json_build_object('event_id', event_id, 'purged', true))::text,
                 'UTF8')"""
"""A delivery body once its shop's retention removed it: the event's type, time and id only."""


def _needles(subject: Subject) -> list[str]:
    """What a delivery's body (compact JSON) contains when it is about the subject."""
    ids = [json.dumps(c, ensure_ascii=False) for c in subject.customer_ids]
    return [*subject.emails, *(f'"customer_id":{i}' for i in ids), *(f'"customer":{{"id":{i}' for i in ids)]


def _order_keys(subject: Subject) -> list[str]:
    return [f"order:{o}" for o in subject.order_ids] + [f"ticket:{t}" for t in subject.ticket_ids]


_DELIVERIES = f"""shop_id = $1 AND ($2 OR order_key = ANY($3::text[])
                  OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS n WHERE {contains("body", "n")}))"""  # noqa: S608
_SENDS = "shop_id = $1 AND ($2 OR lower(to_address) = ANY($3::text[]) OR ticket_id = ANY($4::text[]))"


def erased_body(body: bytes, shop_id: str) -> bytes:
    """A webhook body without the customer: its data scrubbed, its rendered messages dropped."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return json.dumps({"erased": True}).encode()
    data = scrub(payload["data"], shop_id)
    for rendered in ("customer_message", "staff_message"):
        if data.get(rendered) is not None:
            data[rendered] = None
    return json.dumps({**payload, "data": data}, ensure_ascii=False, separators=(",", ":")).encode()


async def erase(conn: Connection, subject: Subject) -> dict[str, int]:
    shop = subject.shop_id
    deliveries = await conn.fetch(
        f"SELECT id, body FROM deliveries WHERE {_DELIVERIES} ORDER BY id FOR UPDATE",  # noqa: S608
        shop,
        subject.whole_shop,
        _order_keys(subject),
        _needles(subject),
    )
    ids = [d["id"] for d in deliveries]
    await conn.execute(
        """UPDATE deliveries d SET body = u.body
           FROM unnest($2::text[], $3::bytea[]) AS u (id, body) WHERE d.shop_id = $1 AND d.id = u.id""",
        shop,
        ids,
        [erased_body(bytes(d["body"]), shop) for d in deliveries],
    )
    answers = await conn.execute(
        """UPDATE attempts SET response_body = $2
           WHERE delivery_id = ANY($1::text[]) AND response_body IS NOT NULL""",
        ids,
        ERASED,
    )
    sends = await conn.execute(
        f"""UPDATE email_sends SET to_address = $5, to_name = NULL, subject = $5, body = $5,
                   in_reply_to = NULL, references_ids = '{{}}', last_error = NULL, claim_token = NULL,
                   status = CASE WHEN status IN ('pending', 'sending') THEN 'dead' ELSE status END,
                   finished_at = coalesce(finished_at, now())
            WHERE {_SENDS}""",  # noqa: S608
        shop,
        subject.whole_shop,
        list(subject.emails),
        list(subject.ticket_ids),
        ERASED,
    )
    return {
        "deliveries": len(ids),
        "attempts": int(answers.split()[-1]),
        "email_sends": int(sends.split()[-1]),
    }


async def export(conn: Connection, subject: Subject) -> ExportRows:
    deliveries = await conn.fetch(
        f"""SELECT id, endpoint_id, event_type, event_time, status, created_at, finished_at, body
            FROM deliveries WHERE {_DELIVERIES} ORDER BY seq""",  # noqa: S608
        subject.shop_id,
        subject.whole_shop,
        _order_keys(subject),
        _needles(subject),
    )
    sends = await conn.fetch(
        f"""SELECT id, ticket_id, to_address, to_name, subject, body, status, created_at, finished_at
            FROM email_sends WHERE {_SENDS} ORDER BY created_at, id""",  # noqa: S608
        subject.shop_id,
        subject.whole_shop,
        list(subject.emails),
        list(subject.ticket_ids),
    )
    return {"deliveries": rows_of(deliveries), "email_sends": rows_of(sends)}


# -- retention -------------------------------------------------------------------------------------


async def delivery_body_days(conn: Connection, shop_id: str) -> int | None:
    days = await conn.fetchval(
        "SELECT delivery_body_days FROM retention_settings WHERE shop_id = $1", shop_id
    )
    return int(days) if days is not None else None


async def put_delivery_body_days(conn: Connection, shop_id: str, days: int | None, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO retention_settings (shop_id, delivery_body_days, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (shop_id) DO UPDATE SET delivery_body_days = $2, updated_at = $3""",
        shop_id,
        days,
        at,
    )


async def retention_of_shops(conn: Connection, shop_ids: list[str]) -> dict[str, int | None]:
    rows = await conn.fetch(
        "SELECT shop_id, delivery_body_days FROM retention_settings WHERE shop_id = ANY($1::text[])", shop_ids
    )
    return {row["shop_id"]: row["delivery_body_days"] for row in rows}


_PURGES = {
    "delivery_body": ("deliveries", "status IN ('succeeded', 'dead')", f"body = {_STUB}"),
    "email_body": ("email_sends", "status IN ('sent', 'dead')", f"body = '{PURGED}'"),
}
"""What a retention kind purges: table, which of its rows are finished, and the change."""


async def purge_bodies(conn: Connection, kind: str, shop_id: str, before: datetime, batch: int) -> int:
    """Purge the bodies of up to `batch` of the shop's rows of `kind` finished before `before`, oldest
    first from where the last purge stopped; the rows stay. Returns how many were purged."""
    table, finished, change = _PURGES[kind]
    done = await conn.fetchrow(
        "SELECT done_at, done_id FROM retention_progress WHERE shop_id = $1 AND kind = $2", shop_id, kind
    )
    purged: list[Any] = await conn.fetch(
        f"""UPDATE {table} t SET {change}
            FROM (SELECT id FROM {table}
                  WHERE {finished} AND finished_at < $2 AND shop_id = $1 AND (finished_at, id) > ($3, $4)
                  ORDER BY finished_at, id LIMIT $5) AS due
            WHERE t.id = due.id
            RETURNING t.finished_at, t.id""",  # noqa: S608
        shop_id,
        before,
        done["done_at"] if done else datetime.min.replace(tzinfo=before.tzinfo),
        done["done_id"] if done else "",
        batch,
    )
    if purged:
        last = max(purged, key=lambda r: (r["finished_at"], r["id"]))
        await conn.execute(
            """INSERT INTO retention_progress (shop_id, kind, done_at, done_id) VALUES ($1, $2, $3, $4)
               ON CONFLICT (shop_id, kind) DO UPDATE SET done_at = $3, done_id = $4""",
            shop_id,
            kind,
            last["finished_at"],
            last["id"],
        )
    return len(purged)
