"""The shop's webhook endpoint during the soak: a small HTTP/1.1 server on loopback that verifies every
request with the reference `standardwebhooks` package and records each webhook-id it acknowledged,
with how often. The chaos loop can make it answer 500 or hang for a while, as a shop's own outage
would. Survey invitations are handed on to the customers, once per webhook-id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from standardwebhooks import Webhook, WebhookVerificationError

Mode = Literal["ok", "fail", "hang"]
HANG_LIMIT_SECONDS = 120.0
"""A hung request is held until notify gives up on it (its timeout is far shorter) or this passes."""


@dataclass
class ReceiverStats:
    requests: int = 0
    bad_signature: int = 0
    answered_500: int = 0
    hung: int = 0
    acknowledged: Counter[str] = field(default_factory=Counter)
    """webhook-id -> how many requests with that id were verified and answered 2xx."""
    types: dict[str, str] = field(default_factory=dict)
    """webhook-id -> the event type its body names."""


class SoakReceiver:
    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.stats = ReceiverStats()
        self.invitations: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.port = 0
        self._webhook: Webhook | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.last_request_at = 0.0
        """Loop time of the latest request (the drain waits for quiet)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/careloop"

    def use_secret(self, secret: str) -> None:
        self._webhook = Webhook(secret)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        """The status for one request in the current mode (0: hang); records what it acknowledged."""
        self.stats.requests += 1
        self.last_request_at = asyncio.get_running_loop().time()
        if self._webhook is None:
            return 503  # subscribed, secret not known yet: notify retries
        try:
            payload = self._webhook.verify(body, headers)
        except WebhookVerificationError:
            self.stats.bad_signature += 1
            return 400
        if self.mode == "fail":
            self.stats.answered_500 += 1
            return 500
        if self.mode == "hang":
            self.stats.hung += 1
            return 0
        webhook_id = headers["webhook-id"]
        first = webhook_id not in self.stats.acknowledged
        self.stats.acknowledged[webhook_id] += 1
        if first:
            event_type = str(payload.get("type", "?"))
            self.stats.types[webhook_id] = event_type
            if event_type == "survey.invited":
                self.invitations.put_nowait(payload["data"])
        return 200

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers: dict[str, str] = {}
                for raw in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = raw.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.answer(headers, body)
                if status == 0:
                    # Hold the request until the client gives up (EOF) or the limit passes; no answer.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.read(), HANG_LIMIT_SECONDS)
                    return
                text = json.dumps({"status": status}).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(text)}\r\n\r\n".encode()
                    + text
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
