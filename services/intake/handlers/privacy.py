"""Privacy requests (docs/privacy.md): a shop asks to erase or export what CareLoop holds about one
of its customers (`request_privacy`: the API, Shopify's compliance webhooks); `privacy.requested`
fans out to every service, intake included (`privacy_part`: intake's own rows, on the runtime's
path); each answers `privacy.completed`, which `on_privacy_completed` folds into the request.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from runtime.audit import SYSTEM, record_audit
from runtime.db import Connection
from runtime.erasure import SUPPRESSED, PrivacyPart, erased_among, erased_unlocked
from runtime.metrics import on_commit
from runtime.outbox import enqueue
from runtime.privacy import ERASED, IdentityKind, Subject, digest, event_digests, hashed, normalized, scrub
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.privacy import (
    RESPONDING_SERVICES,
    PrivacyCompleted,
    PrivacyKind,
    PrivacyRequested,
    PrivacyScope,
)

from .. import metrics
from ..context import Context
from ..domain.platforms.deliveries import OrderState
from ..repository import erasure
from ..repository import privacy as repo

SOURCE = "careloop/intake"


@dataclass(frozen=True)
class Asked:
    """Whom the shop names: its customer id, or an address (Shopify names all three)."""

    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    order_ids: tuple[str, ...] = ()
    """The shop's own order ids of the customer (Shopify's orders_to_redact, mapped)."""

    @property
    def by(self) -> str:
        return "customer_id" if self.customer_id else "email" if self.email else "phone"


def privacy_part(ctx: Context) -> PrivacyPart:
    return PrivacyPart("intake", ctx.privacy_topic, erasure.erase, erasure.export, ctx.now)


def new_request_id() -> str:
    return f"prv_{uuid.uuid4().hex[:24]}"


async def request_privacy(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    kind: PrivacyKind,
    asked: Asked | None,
    *,
    source: str = "api",
    request_id: str | None = None,
) -> tuple[str, bool]:
    """Record the request and publish `privacy.requested` with every identity intake links to the
    asked one (`asked` None: the whole shop). Returns its id and whether it is new (a request id
    given by the caller, a platform's, is recorded once)."""
    known = repo.Known()
    if asked is not None:
        known.add(known.customer_ids, asked.customer_id)
        known.add(known.emails, asked.email)
        known.add(known.phones, asked.phone)
        known.order_ids.update(asked.order_ids)
        known = await repo.known_identities(conn, shop_id, known)
    now = ctx.now()
    request = PrivacyRequested(
        request_id=request_id or new_request_id(),
        shop_id=shop_id,
        kind=kind,
        scope=PrivacyScope.CUSTOMER if asked is not None else PrivacyScope.SHOP,
        customer_ids=sorted(known.customer_ids),
        emails=sorted(known.emails),
        phones=sorted(known.phones),
        order_ids=sorted(known.order_ids),
        ticket_ids=sorted(known.ticket_ids),
        source=source,
        requested_at=now,
    )
    created = await repo.insert_request(
        conn,
        repo.NewRequest(
            id=request.request_id,
            shop_id=shop_id,
            kind=kind.value,
            scope=request.scope.value,
            asked_by=asked.by if asked is not None else "shop",
            source=source,
            subject_digests=Subject.of(request).digests(),
            requested_at=now,
        ),
    )
    if created:
        event = make_event("privacy.requested", SOURCE, request, subject=request.request_id, time=now)
        await enqueue(conn, ctx.privacy_topic, event, key=shop_id)
        on_commit(metrics.PRIVACY_REQUESTS.labels(kind.value, source).inc)
    return request.request_id, created


async def on_privacy_completed(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """Keep each service's part; a request is complete once every service answered in full."""
    parts = []
    for event in events:
        done: PrivacyCompleted = event.data
        parts.append(
            repo.Part(
                request_id=done.request_id,
                shop_id=done.shop_id,
                service=done.service,
                chunk=done.chunk,
                chunks=done.chunks,
                status=done.status.value,
                counts=dict(done.counts),
                data=done.data,
                completed_at=done.at,
            )
        )
    touched = await repo.record_parts(conn, parts)
    for kind in await repo.settle(conn, touched, RESPONDING_SERVICES, ctx.now()):
        on_commit(partial(metrics.PRIVACY_COMPLETED.labels(kind).inc))


# -- Shopify's compliance webhooks -----------------------------------------------------------------

SHOPIFY_COMPLIANCE: dict[str, PrivacyKind] = {
    "customers/redact": PrivacyKind.ERASURE,
    "customers/data_request": PrivacyKind.EXPORT,
    "shop/redact": PrivacyKind.ERASURE,
}
"""Shopify's mandatory compliance topics, as privacy requests: shop/redact erases the whole shop."""


class NotACompliancePayload(ValueError):
    pass


def _shopify_asked(body: Any, order_ids: tuple[str, ...]) -> Asked:
    customer = body.get("customer") if isinstance(body, dict) else None
    if not isinstance(customer, dict) or (customer.get("id") is None and not customer.get("email")):
        raise NotACompliancePayload("a customer request names no customer (customer.id or customer.email)")
    ident = customer.get("id")
    return Asked(
        customer_id=str(ident) if ident is not None else None,
        email=customer.get("email") or None,
        phone=customer.get("phone") or None,
        order_ids=order_ids,
    )


def _platform_order_ids(body: Any) -> list[str]:
    """The Shopify order ids a customer request names (orders_to_redact, orders_requested)."""
    found = []
    for key in ("orders_to_redact", "orders_requested"):
        values = body.get(key) if isinstance(body, dict) else None
        found += [str(v) for v in values or [] if isinstance(v, int | str)]
    return found


async def shopify_compliance(
    conn: Connection, ctx: Context, shop_id: str, topic: str, body: Any, delivery_key: str
) -> tuple[str, bool]:
    """A Shopify compliance webhook as a privacy request (the same path as the API's). Its id comes
    from the delivery, so Shopify's retries of it are one request. Returns its id and whether new."""
    kind = SHOPIFY_COMPLIANCE[topic]
    asked = None
    if topic != "shop/redact":
        orders = await repo.orders_of_platform(conn, shop_id, "shopify", _platform_order_ids(body))
        asked = _shopify_asked(body, tuple(orders))
    request_id = "prv_" + hashlib.sha256(f"{shop_id}\x1f{delivery_key}".encode()).hexdigest()[:24]
    created = await request_privacy(conn, ctx, shop_id, kind, asked, source="shopify", request_id=request_id)
    if created[1]:
        target = f"privacy_request:{request_id}"
        await record_audit(conn, ctx.audit, SYSTEM, f"privacy.{kind.value}", target, shop_id=shop_id)
    return created


async def without_erased_customer(conn: Connection, shop_id: str, state: OrderState) -> OrderState:
    """A platform order's state as it may be stored: its customer pseudonymous if they were erased
    (the rule for later events, applied to what the platform webhooks keep)."""
    facts = state.facts
    if facts is None:
        return state
    named = {"customer": facts.customer, "order_id": facts.order_id}
    # unlocked: the delivery's transaction holds the order's row, which an erasure locks after the
    # shop's lock; an erasure committing meanwhile misses only an order it could not yet see
    if not await erased_unlocked(conn, [(shop_id, d) for d in event_digests(shop_id, named)]):
        return state
    on_commit(SUPPRESSED.labels("intake", "platforms", "order").inc)
    customer = Customer.model_validate(
        scrub({"customer": facts.customer.model_dump(mode="json")}, shop_id)["customer"]
    )
    return replace(state, facts=replace(facts, customer=customer))


async def left_out_email(
    conn: Connection, shop_id: str, sender: str | None, subject: str, message_id: str | None
) -> tuple[str | None, str, str | None]:
    """What an automatic e-mail left out keeps of its sender, subject and Message-ID: nothing of an
    erased customer's (the rule for later events)."""
    address = normalized(IdentityKind.EMAIL, sender) if sender else None
    named = [(shop_id, digest(shop_id, IdentityKind.EMAIL, address))] if address else []
    if not await erased_among(conn, named):
        return sender, subject, message_id
    on_commit(SUPPRESSED.labels("intake", "inbound-email", "ignored").inc)
    return None, ERASED if subject else "", hashed(message_id) if message_id else None
