"""What notify's handlers, sweeps, worker and routes need besides the event or request and the
connection. Built once in bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from runtime.shops import ShopRegistry
from services.notify.config import NotifyConfig


@dataclass(frozen=True)
class Context:
    shops: ShopRegistry
    now: Callable[[], datetime]
    """Domain time (the runtime's clock, read at call time: tests swap in a ManualClock after build)."""
    notify_topic: str
    """The (prefixed) notify.events topic the endpoint and dead-letter events go to."""
    config: NotifyConfig
    reply_status_topic: str = "support.reply_status"
    """The (prefixed) support.reply_status topic the SMTP sender reports each reply's fate on."""
