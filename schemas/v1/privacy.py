"""Privacy requests on `privacy.events` (docs/privacy.md): intake publishes `privacy.requested` for a
shop's customer (erase, or export everything held about them); each service applies it to its own
rows and answers `privacy.completed` with what it did (and, for an export, what it held).

Both are keyed by shop id, so a shop's requests and their completions keep their order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from schemas.v1.common import EventData

RESPONDING_SERVICES: tuple[str, ...] = ("intake", "sla", "notify", "survey")
"""Every service that answers a request: it is complete once each of them has."""


class PrivacyKind(StrEnum):
    ERASURE = "erasure"
    EXPORT = "export"


class PrivacyScope(StrEnum):
    CUSTOMER = "customer"
    """The customer the identities name."""
    SHOP = "shop"
    """Every customer of the shop (Shopify's shop/redact)."""


class PartStatus(StrEnum):
    COMPLETE = "complete"
    """The service erased or exported what it held."""
    NOTHING_HELD = "nothing_held"
    """The service held nothing about the customer."""


class PrivacyRequested(EventData):
    """Erase or export what a service holds about one customer of a shop. The identities are every
    one intake knows the customer by (the asked one and those its orders and tickets link to it);
    each service matches its rows by any of them."""

    request_id: str = Field(min_length=1, max_length=64)
    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: PrivacyKind
    scope: PrivacyScope = PrivacyScope.CUSTOMER
    customer_ids: list[str] = Field(default_factory=list, max_length=100)
    """The shop's customer ids."""
    emails: list[str] = Field(default_factory=list, max_length=100)
    phones: list[str] = Field(default_factory=list, max_length=100)
    order_ids: list[str] = Field(default_factory=list, max_length=5000)
    """The customer's orders as intake knows them."""
    ticket_ids: list[str] = Field(default_factory=list, max_length=5000)
    """The customer's tickets."""
    source: str = Field(default="api", max_length=32, description="api | shopify")
    requested_at: datetime


class PrivacyCompleted(EventData):
    """One service's part of a request. An export part larger than one event is sent in `chunks`
    events (chunk 0..chunks-1), each with a share of the rows; counts are on every chunk."""

    request_id: str = Field(min_length=1, max_length=64)
    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    service: str = Field(min_length=1, max_length=32)
    kind: PrivacyKind
    status: PartStatus
    counts: dict[str, int] = Field(default_factory=dict)
    """Rows erased (or exported), by table."""
    chunk: int = Field(default=0, ge=0)
    chunks: int = Field(default=1, ge=1)
    data: dict[str, list[dict[str, Any]]] | None = None
    """An export's rows, by table (None for an erasure)."""
    at: datetime


PRIVACY_EVENT_TYPES: dict[str, type[EventData]] = {
    "privacy.requested": PrivacyRequested,
    "privacy.completed": PrivacyCompleted,
}
