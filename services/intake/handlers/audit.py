"""Every service's audit records (audit.events) into intake's append-only audit log."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from runtime.db import Connection
from runtime.metrics import on_commit
from schemas.envelope import CloudEvent

from .. import metrics
from ..context import Context
from ..repository import audit

AUDIT_TYPES = ("audit.recorded",)


async def on_audit_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """Append the run in one statement (a record already kept, by its event id, is not kept twice)."""
    appended = await audit.append(conn, events)
    on_commit(partial(metrics.AUDIT_RECORDS.inc, appended))
