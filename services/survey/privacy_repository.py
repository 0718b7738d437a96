"""The survey service's rows about a customer (docs/privacy.md): the SQL of its part of a privacy
request (`repository.py` is the rest of its SQL).

A customer's invitations are matched by their id, e-mail, order or ticket, their answers by the
invitations, the ticket states by the ticket, id or e-mail. Erased, every row stays (reports count
the same answers, scores and response rates); comments read '[erased]', the customer keeps only a
pseudonymous id (throttling still groups their surveys) and the language of their page.
"""

from __future__ import annotations

import json
from typing import Any

from runtime.db import Connection
from runtime.privacy import ERASED, ExportRows, Subject, pseudonym, rows_of

_INVITATIONS = """shop_id = $1 AND ($2 OR customer_id = ANY($3::text[]) OR customer_email = ANY($4::text[])
                   OR order_id = ANY($5::text[]) OR ticket_id = ANY($6::text[]))"""
_TICKETS = """shop_id = $1 AND ($2 OR customer_id = ANY($3::text[]) OR customer_email = ANY($4::text[])
               OR ticket_id = ANY($5::text[]))"""


def _args(subject: Subject) -> tuple[Any, ...]:
    return (
        subject.shop_id,
        subject.whole_shop,
        list(subject.customer_ids),
        list(subject.emails),
        list(subject.order_ids),
        list(subject.ticket_ids),
    )


def _ticket_args(subject: Subject) -> tuple[Any, ...]:
    shop, whole, ids, emails, _, tickets = _args(subject)
    return shop, whole, ids, emails, tickets


def _pseudonym(shop_id: str, customer_id: str | None) -> str | None:
    return pseudonym(shop_id, customer_id) if customer_id else None


def _erased_customer(shop_id: str, customer: dict[str, Any], customer_id: str | None) -> str:
    identity = str(customer.get("id") or customer_id or "unknown")
    return json.dumps({"id": pseudonym(shop_id, identity), "locale": customer.get("locale", "en")})


async def erase(conn: Connection, subject: Subject) -> dict[str, int]:
    shop = subject.shop_id
    invitations = await conn.fetch(
        f"""SELECT survey_id, customer, customer_id FROM invitations WHERE {_INVITATIONS}
            ORDER BY survey_id FOR UPDATE""",  # noqa: S608
        *_args(subject),
    )
    surveys = [i["survey_id"] for i in invitations]
    await conn.execute(
        """UPDATE invitations i SET customer = u.customer::jsonb, customer_id = u.customer_id,
                  customer_email = NULL, last_error = NULL
           FROM unnest($2::text[], $3::text[], $4::text[]) AS u (survey_id, customer, customer_id)
           WHERE i.shop_id = $1 AND i.survey_id = u.survey_id""",
        shop,
        surveys,
        [_erased_customer(shop, i["customer"], i["customer_id"]) for i in invitations],
        [_pseudonym(shop, i["customer_id"]) for i in invitations],
    )
    comments = await conn.execute(
        """UPDATE answers SET comment = $3
           WHERE shop_id = $1 AND survey_id = ANY($2::text[]) AND comment IS NOT NULL""",
        shop,
        surveys,
        ERASED,
    )
    tickets = await conn.fetch(
        f"SELECT ticket_id, customer_id FROM tickets WHERE {_TICKETS} ORDER BY ticket_id FOR UPDATE",  # noqa: S608
        *_ticket_args(subject),
    )
    await conn.execute(
        """UPDATE tickets t SET customer_id = u.customer_id, customer_email = NULL
           FROM unnest($2::text[], $3::text[]) AS u (ticket_id, customer_id)
           WHERE t.shop_id = $1 AND t.ticket_id = u.ticket_id""",
        shop,
        [t["ticket_id"] for t in tickets],
        [_pseudonym(shop, t["customer_id"]) for t in tickets],
    )
    return {
        "invitations": len(surveys),
        "answers": int(comments.split()[-1]),
        "tickets": len(tickets),
    }


async def export(conn: Connection, subject: Subject) -> ExportRows:
    invitations = await conn.fetch(
        f"""SELECT survey_id, kind, origin, customer, order_id, ticket_id, locale, status, sent_at,
                   expires_at, answered_at, created_at
            FROM invitations WHERE {_INVITATIONS} ORDER BY created_at, survey_id""",  # noqa: S608
        *_args(subject),
    )
    answers = await conn.fetch(
        """SELECT survey_id, kind, score, speed, accuracy, comment, via, answered_at FROM answers
           WHERE shop_id = $1 AND survey_id = ANY($2::text[]) ORDER BY answered_at, survey_id""",
        subject.shop_id,
        [i["survey_id"] for i in invitations],
    )
    tickets = await conn.fetch(
        f"""SELECT ticket_id, customer_id, customer_email, order_id, channel, category, is_open, updated_at
            FROM tickets WHERE {_TICKETS} ORDER BY ticket_id""",  # noqa: S608
        *_ticket_args(subject),
    )
    return {"invitations": rows_of(invitations), "answers": rows_of(answers), "tickets": rows_of(tickets)}
