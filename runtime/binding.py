"""How a service binds its handlers to the runtime: every handler takes the service's context as its
last argument, and the runtime turns it into the one batch handler a `Consumer` has.

Two shapes, one path: `fold` for a rule written over a whole batch (a single event is a batch of
one), `each` for handlers written per event type (a batch applies them one after another, in
record order). There is never a per-event twin of a fold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from runtime.consumer import Consumer
from runtime.db import Connection
from schemas.envelope import CloudEvent

C = TypeVar("C")

EventHandler = Callable[[CloudEvent[Any], Connection, C], Awaitable[None]]
FoldHandler = Callable[[Sequence[CloudEvent[Any]], Connection, C], Awaitable[None]]


def fold(
    name: str, context: C, types: Iterable[str], apply: FoldHandler[C], *, holds: bool = True
) -> Consumer:
    """A consumer whose rule is `apply` over a run of events of `types`, in record order. `holds`:
    the events of a suspended shop wait until it is resumed (runtime/holds.py), unless False."""

    async def apply_batch(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        await apply(events, conn, context)

    return Consumer(name, frozenset(types), apply_batch, holds)


def each(name: str, context: C, handlers: Mapping[str, EventHandler[C]], *, holds: bool = True) -> Consumer:
    """A consumer applying each event by its type's handler, one after another in record order
    (`holds` as for `fold`)."""
    table = dict(handlers)

    async def apply_batch(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        for event in events:
            await table[event.type](event, conn, context)

    return Consumer(name, frozenset(table), apply_batch, holds)
