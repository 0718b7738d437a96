"""What privacy requests and the erasure rule need of every service, without I/O (docs/privacy.md):
who a request is about (`Subject`), the identities an event names, how personal fields are replaced
(`scrub`), the digests and pseudonyms that keep counts groupable after the identity is gone, and
how an export is made JSON and cut into events.

Erasure keeps the rows (counts and KPIs stay right) and replaces their texts and identities: texts
by ERASED, contact details by nothing, a customer id by its pseudonym (the same in every service and
for every later event, so grouping by customer, e.g. survey throttling, still works).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol
from uuid import UUID

from schemas.v1.privacy import PrivacyRequested, PrivacyScope

ERASED = "[erased]"
"""What an erased text reads."""
PSEUDONYM_PREFIX = "erased:"
_NOT_DIGITS = re.compile(r"[^0-9]")

TEXT_FIELDS = ("body", "text", "comment", "subject")
"""Fields of event data holding what people wrote: erased when non-empty."""
CLEARED_FIELDS = ("customer_email", "customer_phone", "customer_name")
"""Fields of event data that are contact details: emptied."""


class IdentityKind(StrEnum):
    CUSTOMER = "customer"
    """The shop's customer id."""
    EMAIL = "email"
    PHONE = "phone"
    TICKET = "ticket"
    ORDER = "order"
    SHOP = "shop"
    """A whole shop erased (Shopify's shop/redact)."""


Identity = tuple[IdentityKind, str]


def normalized(kind: IdentityKind, value: str) -> str | None:
    """The form an identity is compared in: e-mails lower-cased, phones as their digits."""
    value = value.strip()
    if kind is IdentityKind.EMAIL:
        value = value.lower()
    elif kind is IdentityKind.PHONE:
        value = _NOT_DIGITS.sub("", value)
    return value or None


def digest(shop_id: str, kind: IdentityKind, value: str) -> str:
    """The SHA-256 an erased identity is remembered by: never the identity itself."""
    return hashlib.sha256(f"{shop_id}\x1f{kind.value}\x1f{value}".encode()).hexdigest()


def pseudonym(shop_id: str, customer_id: str) -> str:
    """What an erased customer id becomes: stable, so rows and later events still group together."""
    if customer_id.startswith(PSEUDONYM_PREFIX):
        return customer_id
    return PSEUDONYM_PREFIX + digest(shop_id, IdentityKind.CUSTOMER, customer_id.strip())[:24]


@dataclass(frozen=True)
class Subject:
    """Whom a request is about in one shop: every identity intake knows them by (normalised)."""

    shop_id: str
    whole_shop: bool = False
    customer_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    """Lower-cased."""
    phones: tuple[str, ...] = ()
    """Digits only."""
    order_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: PrivacyRequested) -> Subject:
        def each(kind: IdentityKind, values: Iterable[str]) -> tuple[str, ...]:
            return tuple(sorted({v for v in (normalized(kind, x) for x in values) if v}))

        return cls(
            shop_id=request.shop_id,
            whole_shop=request.scope is PrivacyScope.SHOP,
            customer_ids=each(IdentityKind.CUSTOMER, request.customer_ids),
            emails=each(IdentityKind.EMAIL, request.emails),
            phones=each(IdentityKind.PHONE, request.phones),
            order_ids=each(IdentityKind.ORDER, request.order_ids),
            ticket_ids=each(IdentityKind.TICKET, request.ticket_ids),
        )

    def identities(self) -> list[Identity]:
        found: list[Identity] = [(IdentityKind.SHOP, self.shop_id)] if self.whole_shop else []
        for kind, values in (
            (IdentityKind.CUSTOMER, self.customer_ids),
            (IdentityKind.EMAIL, self.emails),
            (IdentityKind.PHONE, self.phones),
            (IdentityKind.ORDER, self.order_ids),
            (IdentityKind.TICKET, self.ticket_ids),
        ):
            found += [(kind, value) for value in values]
        return found

    def digests(self) -> list[str]:
        return [digest(self.shop_id, kind, value) for kind, value in self.identities()]

    def pseudonyms(self) -> list[str]:
        """The pseudonym of each customer id, in `customer_ids` order (SQL pairs them by position)."""
        return [pseudonym(self.shop_id, customer_id) for customer_id in self.customer_ids]


# -- events --------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _get(data: Any, name: str) -> Any:
    """A field of event data, whether a model (as consumers get it) or a mapping (a stored body).
    A model's fields are read from its `__dict__`: `getattr` of a field the model lacks goes through
    pydantic's `__getattr__`, which builds an AttributeError, and every consumer asks this of every
    event (docs/benchmarks.md, the ingest profile)."""
    if isinstance(data, dict):
        return data.get(name)
    fields = getattr(data, "__dict__", None)
    if isinstance(fields, dict):
        return fields.get(name)
    return data.get(name) if isinstance(data, Mapping) else None


def identities_of(data: Any) -> list[Identity]:
    """Every identity event data names (normalised): its customer, their contact details, its ticket
    and order. Read field by field: no event is dumped just to be looked at."""
    pairs: list[tuple[IdentityKind, Any]] = [
        (IdentityKind.CUSTOMER, _get(data, "customer_id")),
        (IdentityKind.EMAIL, _get(data, "customer_email")),
        (IdentityKind.PHONE, _get(data, "customer_phone")),
        (IdentityKind.TICKET, _get(data, "ticket_id")),
        (IdentityKind.ORDER, _get(data, "order_id")),
    ]
    customer = _get(data, "customer")
    if customer is not None:
        pairs.append((IdentityKind.CUSTOMER, _get(customer, "id")))
    for nested in (customer, _get(data, "contact")):
        if nested is not None:
            pairs += [
                (IdentityKind.EMAIL, _get(nested, "email")),
                (IdentityKind.PHONE, _get(nested, "phone")),
            ]
    result: list[Identity] = []
    for kind, value in pairs:
        text = _text(value)
        norm = normalized(kind, text) if text else None
        if norm and (kind, norm) not in result:
            result.append((kind, norm))
    return result


def event_digests(shop_id: str, data: Any) -> list[str]:
    """The digests to look for among the erased: the data's identities, and its shop as a whole."""
    return [shop_digest(shop_id)] + [digest(shop_id, kind, value) for kind, value in identities_of(data)]


@lru_cache(maxsize=1024)
def shop_digest(shop_id: str) -> str:
    """The digest of a whole shop's erasure, asked for with every event of the shop: kept (a shop id
    is not personal data; customers' digests are not kept)."""
    return digest(shop_id, IdentityKind.SHOP, shop_id)


def hashed(channel_id: str) -> str:
    """A channel's message or thread id (an e-mail's Message-ID) once erased: unreadable, still the
    same for the same id (intake's SQL makes the same: 'erased:' || md5(id)), so a duplicate is
    still known as one."""
    if channel_id.startswith(PSEUDONYM_PREFIX):
        return channel_id
    return PSEUDONYM_PREFIX + hashlib.md5(channel_id.encode(), usedforsecurity=False).hexdigest()


def scrub_threading(threading: Mapping[str, Any]) -> dict[str, Any]:
    """A reply's e-mail threading without the customer's Message-IDs (its own id is CareLoop's)."""
    answered = _text(threading.get("in_reply_to"))
    references = threading.get("references")
    return {
        **threading,
        "in_reply_to": hashed(answered) if answered else None,
        "references": [hashed(str(r)) for r in references] if isinstance(references, list) else [],
    }


def contact_pseudonym(shop_id: str, contact: Mapping[str, Any]) -> str | None:
    """The handle an erased contact keeps (a contact must name someone): the pseudonym of its handle,
    else of its e-mail, else of its phone's digits, each as intake compares them, so the contacts of
    one erased customer still group together."""
    handle = _text(contact.get("customer_handle"))
    if handle:
        return pseudonym(shop_id, handle.strip().lstrip("@").lower())
    for kind, name in ((IdentityKind.EMAIL, "customer_email"), (IdentityKind.PHONE, "customer_phone")):
        value = _text(contact.get(name))
        found = normalized(kind, value) if value else None
        if found:
            return pseudonym(shop_id, found)
    return None


def scrub(data: Mapping[str, Any], shop_id: str) -> dict[str, Any]:
    """`data` without its personal fields: texts erased, contact details emptied, the customer id
    (and a contact's handle, which stands in for the identity a contact must have) pseudonymous, the
    channel's message and thread ids hashed. Fields that are none of these are kept."""
    out = dict(data)
    for name in TEXT_FIELDS:
        if _text(out.get(name)):
            out[name] = ERASED
    for name in CLEARED_FIELDS:
        if name in out:
            out[name] = None
    if _text(out.get("customer_id")):
        out["customer_id"] = pseudonym(shop_id, out["customer_id"])
    if "customer_handle" in data:
        out["customer_handle"] = contact_pseudonym(shop_id, data)
    if isinstance(out.get("attachments"), list):
        out["attachments"] = []
    _scrub_channel_ids(out)
    _scrub_nested(out, shop_id)
    return out


def _scrub_channel_ids(out: dict[str, Any]) -> None:
    for name in ("channel_message_id", "thread_id"):
        if _text(out.get(name)):
            out[name] = hashed(out[name])
    if isinstance(out.get("references"), list):
        out["references"] = [hashed(str(r)) for r in out["references"]]
    threading = out.get("threading")
    if isinstance(threading, Mapping):
        out["threading"] = scrub_threading(threading)


def _scrub_nested(out: dict[str, Any], shop_id: str) -> None:
    """The customer object (orders, surveys) keeps a pseudonymous id and its language; a reply's
    contact keeps nothing but its (hashed) thread."""
    customer = out.get("customer")
    if isinstance(customer, Mapping):
        kept = {"locale": customer["locale"]} if "locale" in customer else {}
        identity = _text(customer.get("id"))
        out["customer"] = {**kept, "id": pseudonym(shop_id, identity)} if identity else kept
    contact = out.get("contact")
    if isinstance(contact, Mapping):
        thread = _text(contact.get("thread_id"))
        out["contact"] = {"thread_id": hashed(thread) if thread else None}


# -- exports -------------------------------------------------------------------------------------

ExportRows = dict[str, list[dict[str, Any]]]
"""An export part: rows by table."""


def jsonable(value: Any) -> Any:
    """A stored value as JSON: times as ISO 8601, numbers as they are (decimals as text), bytes as the
    JSON they hold (a webhook body) or else their text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return raw.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class Row(Protocol):
    """A stored row (an asyncpg record or a mapping): its columns and values."""

    def items(self) -> Iterable[tuple[str, Any]]: ...


def rows_of(records: Iterable[Row]) -> list[dict[str, Any]]:
    return [{str(k): jsonable(v) for k, v in record.items()} for record in records]


def chunked(export: ExportRows, budget_bytes: int) -> list[ExportRows]:
    """The export cut into parts of about `budget_bytes` of JSON each (a row larger than the budget
    travels alone), tables and rows in order; one empty part for an empty export."""
    parts: list[ExportRows] = [{}]
    size = 0
    for table, rows in export.items():
        parts[-1].setdefault(table, [])
        for row in rows:
            row_size = len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode())
            if size and size + row_size > budget_bytes:
                parts.append({table: []})
                size = 0
            parts[-1][table].append(row)
            size += row_size
    return parts


def counts_of(export: ExportRows) -> dict[str, int]:
    return {table: len(rows) for table, rows in export.items()}


def merged(parts: Sequence[ExportRows]) -> ExportRows:
    """The parts of an export put back together (the inverse of `chunked`)."""
    out: ExportRows = {}
    for part in parts:
        for table, rows in part.items():
            out.setdefault(table, []).extend(rows)
    return out
