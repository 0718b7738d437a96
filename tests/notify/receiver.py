"""A real HTTP receiver on 127.0.0.1 for the notify tests: answers what the test tells it to
(status codes, hanging, dropped connections, redirects) and deduplicates effects by webhook-id,
as a well-behaved Standard Webhooks consumer does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False
    drop: bool = False


Behaviour = Callable[[Received], Awaitable[Reply]]


async def always_ok(request: Received) -> Reply:
    return Reply()


class Receiver:
    def __init__(self, behaviour: Behaviour = always_ok) -> None:
        self.behaviour = behaviour
        self.requests: list[Received] = []
        self.effects: Counter[str] = Counter()
        """webhook-id -> how often its effect was applied (deduplicated: at most 1 each)."""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self, port: int = 0) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port or self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening (connections to the port are then refused) and drop open connections."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    def apply_once(self, request: Received) -> None:
        """The receiver's idempotency: an effect per webhook-id, never two."""
        if request.webhook_id and request.webhook_id not in self.effects:
            self.effects[request.webhook_id] += 1

    def by_path(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = await self.behaviour(request)
                if reply.drop:
                    return
                if reply.hang:
                    await asyncio.sleep(3600)
                head = [f"HTTP/1.1 {reply.status} X", f"content-length: {len(reply.body)}"]
                head += [f"{k}: {v}" for k, v in reply.headers]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    line = await reader.readline()
    if not line:
        return None
    _, path, _ = line.decode().split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(path, headers, body)
