"""What intake's handlers, sweeps and routes need besides the event or request and the connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from runtime.audit import AuditTrail
from runtime.shops import ShopRegistry
from schemas.v1.shops import ShopState

from .config import IntakeConfig


@dataclass(frozen=True)
class Context:
    """Built once in bootstrap."""

    now: Callable[[], datetime]
    """Domain time, read at call time (tests swap the runtime's clock after the service is built)."""
    tickets_topic: str
    shops: ShopRegistry
    config: IntakeConfig = field(default_factory=IntakeConfig)
    orders_topic: str = "orders.events"
    """Where the platform adapters publish order events (the prefixed orders.events)."""
    replies_topic: str = "support.replies"
    """Where replies go to the channel gateways (the prefixed support.replies)."""
    privacy_topic: str = "privacy.events"
    """Where privacy requests go out and their completions come back (the prefixed privacy.events)."""
    shops_topic: str = "shops.state"
    """Where the operator API publishes each shop's whole state (the prefixed shops.state)."""
    audit: AuditTrail = field(default_factory=lambda: AuditTrail("audit.events", "intake"))
    """Where intake's own audit records go when no request carries them (the prefixed audit.events)."""
    take_shops: Callable[[Sequence[ShopState]], Awaitable[object]] | None = None
    """Hands committed shop states to the runtime's follower (runtime/shop_state.py), so intake's
    registry has them before its own relay has published them."""
