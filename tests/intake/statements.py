"""Watching what intake's code sends to Postgres: a connection that records every statement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from runtime.db import Connection

SENDING = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})
"""The connection methods that send a statement and wait for its answer: one round trip each."""


@dataclass
class Sent:
    method: str
    query: str
    args: tuple[Any, ...]


@dataclass
class Recording:
    """Wraps the connection a use case is given; `sent` lists its statements in order."""

    conn: Connection
    sent: list[Sent] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.conn, name)
        if name not in SENDING:
            return attribute
        send = cast(Callable[..., Awaitable[Any]], attribute)

        async def recorded(query: str, *args: Any, **options: Any) -> Any:
            self.sent.append(Sent(name, query, args))
            return await send(query, *args, **options)

        return recorded

    @property
    def connection(self) -> Connection:
        """This recorder, typed as what the use cases take."""
        return cast(Connection, self)

    def clear(self) -> None:
        self.sent.clear()
