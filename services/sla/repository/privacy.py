"""The SLA service's rows about a customer (docs/privacy.md). Clocks and the ticket states they read
hold no personal data; an order promise keeps its customer (the order.promise_breached event names
them), matched by the customer's id, e-mail or order. Erased, a promise keeps its customer's
pseudonymous id and language: it still runs, and a breach still names (the pseudonym of) someone."""

from __future__ import annotations

from runtime.db import Connection
from runtime.privacy import ExportRows, Subject, pseudonym, rows_of

_PROMISES = """shop_id = $1 AND ($2 OR order_id = ANY($3::text[]) OR customer->>'id' = ANY($4::text[])
                OR lower(customer->>'email') = ANY($5::text[]))"""


def _args(subject: Subject) -> tuple[object, ...]:
    return (
        subject.shop_id,
        subject.whole_shop,
        list(subject.order_ids),
        list(subject.customer_ids),
        list(subject.emails),
    )


async def erase(conn: Connection, subject: Subject) -> dict[str, int]:
    rows = await conn.fetch(
        f"SELECT id, customer FROM promises WHERE {_PROMISES} ORDER BY id FOR UPDATE",  # noqa: S608
        *_args(subject),
    )
    erased = [
        {
            "id": pseudonym(subject.shop_id, str(r["customer"].get("id") or "unknown")),
            "locale": r["customer"].get("locale", "en"),
        }
        for r in rows
    ]
    await conn.execute(
        """UPDATE promises p SET customer = u.customer, failure = NULL
           FROM unnest($2::text[], $3::jsonb[]) AS u (id, customer)
           WHERE p.shop_id = $1 AND p.id = u.id""",
        subject.shop_id,
        [r["id"] for r in rows],
        erased,
    )
    return {"promises": len(rows)}


async def export(conn: Connection, subject: Subject) -> ExportRows:
    promises = await conn.fetch(
        f"""SELECT id, order_id, repair_id, kind, customer, promised_at, status, settled_at, breached_at
            FROM promises WHERE {_PROMISES} ORDER BY promised_at, id""",  # noqa: S608
        *_args(subject),
    )
    return {"promises": rows_of(promises)}
