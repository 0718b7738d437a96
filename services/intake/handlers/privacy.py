"""Privacy requests (docs/privacy.md): a shop asks to erase or export what CareLoop holds about one
of its customers (`request_privacy`: the API, Shopify's compliance webhooks); `privacy.requested`
fans out to every service, intake included (`privacy_part`: intake's own rows, on the runtime's
path); each answers `privacy.completed`, which `on_privacy_completed` folds into the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from runtime.db import Connection
from runtime.erasure import PrivacyPart
from runtime.metrics import on_commit
from runtime.outbox import enqueue
from runtime.privacy import Subject
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.privacy import (
    RESPONDING_SERVICES,
    PrivacyCompleted,
    PrivacyKind,
    PrivacyRequested,
    PrivacyScope,
)

from .. import metrics
from ..context import Context
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
