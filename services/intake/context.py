"""What intake's handlers, sweeps and routes need besides the event or request and the connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from runtime.shops import ShopRegistry

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
