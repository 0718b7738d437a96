"""The HTTP client deliveries go out through.

One HTTP/1.1 POST per attempt, over keep-alive connections kept per origin. The SSRF policy is
enforced on the address actually connected to, after DNS resolution (TLS still verifies the host name
of the URL), so DNS rebinding cannot slip past the check. Redirects are never followed (a 3xx is just
the answer), and nothing is read from the environment (no proxies, no netrc).

Why not httpx, which this module drove before: on the development machine one httpx POST to a
loopback receiver cost 1.4-5 ms of CPU, because httpcore's pool re-examines every connection
(quadratically) on each request and each response, and retries a failing `import sniffio` several times
per request since anyio stopped installing sniffio (encode/httpcore discussion #1102). Driving h11, the
HTTP/1.1 state machine httpcore itself uses, directly costs about 0.1 ms; at 1,000 webhooks/s the
difference was more than one of the machine's two cores.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import h11
import httpx

from services.notify.domain.ssrf import EgressPolicy, IPAddress, literal_address

REFUSED_PREFIX = "refused by egress policy: "
USER_AGENT = "CareLoop-Webhooks/1"
KEEPALIVE_SECONDS = 4.0
"""An idle connection is used again only this long: below the 5 s many servers (uvicorn, httpx's
own default) keep an idle connection, so we drop it before the receiver can close it under us."""
READ_PAUSE_BYTES = 64 * 1024
"""A receiver sending faster than we read is paused (TCP flow control) beyond this much unread data."""


class EgressError(Exception):
    """No complete answer: the network or the receiver's side failed."""


class ConnectFailed(EgressError):
    """No connection was made: unusable URL, name not resolved, refused, unreachable, TLS failed."""


class EgressRefused(ConnectFailed):
    """The egress policy forbids the host's address; nothing was sent."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: bytes
    """At most `cap` bytes of the response body: the rest is never read."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    """As in the URL, lower case, an IPv6 literal without brackets, a non-ASCII name in IDNA form."""
    port: int
    path: str
    """The request target: path and query."""

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """Where a POST to `url` goes; ConnectFailed for a URL no request can be made to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConnectFailed(f"unsupported URL scheme {parts.scheme!r}")
    if parts.username or parts.password:
        raise ConnectFailed("credentials in the URL are not allowed")
    host = parts.hostname
    if not host:
        raise ConnectFailed("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise ConnectFailed(f"unusable URL: {exc}") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, ascii_host, port, path)


class _Wire(asyncio.Protocol):
    """One TCP (or TLS) connection: the bytes received and not yet read, whether it ended, and a
    waiter for the next bytes. A callback protocol rather than asyncio streams so that an idle
    connection can be checked for unexpected bytes or a close without a system call."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._received = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received += data
        if len(self._received) > READ_PAUSE_BYTES and not self._paused and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self.ended = True
        self._wake()
        return None  # close the transport: we never half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def quiet(self) -> bool:
        """Open, and nothing arrived since the last answer was read: safe to send the next request."""
        return not self._received and not self.ended

    async def read(self) -> bytes:
        """What arrived since the last read, waiting for something; b"" once the peer has ended."""
        while not self._received and not self.ended:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._received)
        self._received.clear()
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        if self._transport is None or self.ended:
            raise EgressError("the connection is closed")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (a failed or abandoned exchange: nothing more is read)."""
        if self._transport is not None:
            self._transport.abort()


class _Connection:
    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.protocol = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        return self.wire.quiet and now - self.idle_since < KEEPALIVE_SECONDS


class EgressClient:
    """POSTs to webhook endpoints. Concurrency is the caller's business (the worker's per-endpoint
    limits); this keeps at most `max_idle_per_origin` idle connections per origin for reuse."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        max_idle_per_origin: int = 8,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._max_idle = max(1, max_idle_per_origin)
        # httpx's context: the same CA bundle (certifi) as before, and no SSLKEYLOGFILE from the environment
        self._ssl = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._pruned = time.monotonic()
        self._closed = False

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], cap: int) -> Answer:
        """One POST; raises EgressError (ConnectFailed, EgressRefused) for anything but an answer.
        Unbounded in time: the caller bounds the whole attempt."""
        target = parse_target(url)
        connection = self._idle_connection(target.origin) or await self._connect(target)
        try:
            answer, reusable = await self._exchange(connection, target, body, headers, cap)
        except h11.ProtocolError as exc:
            connection.wire.abort()
            raise EgressError(f"HTTP protocol error: {exc}") from exc
        except BaseException:  # a timeout or cancellation mid-exchange leaves the connection unusable
            connection.wire.abort()
            raise
        if reusable:
            self._keep(target.origin, connection)
        else:
            connection.wire.close()
        return answer

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            for connection in stack:
                connection.wire.close()
        self._idle.clear()

    # -- connections -------------------------------------------------------------------------------
    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        stack = self._idle.get(origin)
        now = time.monotonic()
        while stack:
            connection = stack.pop()  # the most recently used first: the others can expire
            if connection.reusable(now):
                return connection
            connection.wire.close()
        return None

    def _keep(self, origin: tuple[str, str, int], connection: _Connection) -> None:
        now = time.monotonic()
        stack = self._idle.setdefault(origin, [])
        if self._closed or len(stack) >= self._max_idle:
            connection.wire.close()
            return
        connection.idle_since = now
        stack.append(connection)
        if now - self._pruned > KEEPALIVE_SECONDS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Close expired idle connections of every origin, so endpoints no longer posted to do not
        keep sockets open."""
        self._pruned = now
        for origin, stack in list(self._idle.items()):
            keep = [c for c in stack if c.reusable(now)]
            for connection in stack:
                if connection not in keep:
                    connection.wire.close()
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        found: list[IPAddress] = []
        for *_, sockaddr in infos:
            address = literal_address(str(sockaddr[0]))
            if address is not None and address not in found:
                found.append(address)
        return found

    async def _connect(self, target: Target) -> _Connection:
        """Resolve the host itself, refuse if any of its addresses is forbidden, then connect to a
        checked address (never to the name, which could resolve differently a second time)."""
        try:
            addresses = await self._addresses(target.host, target.port)
        except OSError as exc:
            raise ConnectFailed(f"cannot resolve {target.host}: {exc}") from exc
        if not addresses:
            raise ConnectFailed(f"{target.host} has no addresses")
        for address in addresses:
            refusal = self._policy.refusal(target.host, address)
            if refusal is not None:
                raise EgressRefused(REFUSED_PREFIX + refusal)
        tls = target.scheme == "https"
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for address in addresses:
            try:
                _, wire = await loop.create_connection(
                    _Wire,
                    str(address),
                    target.port,
                    ssl=self._ssl if tls else None,
                    server_hostname=target.host if tls else None,
                )
            except OSError as exc:  # ssl.SSLError included
                last = exc
                continue
            return _Connection(wire)
        raise ConnectFailed(f"cannot connect to {target.host_header}: {last}")

    # -- one request and its answer --------------------------------------------------------------
    @staticmethod
    async def _exchange(
        connection: _Connection, target: Target, body: bytes, headers: Mapping[str, str], cap: int
    ) -> tuple[Answer, bool]:
        """Send the request, read the answer up to `cap` body bytes; (answer, connection reusable)."""
        protocol = connection.protocol
        request = h11.Request(
            method="POST",
            target=target.path,
            headers=[
                ("host", target.host_header),
                ("user-agent", USER_AGENT),
                *headers.items(),
                ("content-length", str(len(body))),
            ],
        )
        # one write: head, body and end of message leave in one segment on a small webhook
        connection.wire.write(
            b"".join(
                protocol.send(event) or b"" for event in (request, h11.Data(data=body), h11.EndOfMessage())
            )
        )
        status: int | None = None
        received = bytearray()
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await connection.wire.read())
            elif isinstance(event, h11.Response):
                status = event.status_code
                if cap <= 0:
                    return Answer(status, b""), False  # the body is never read: the connection goes
            elif isinstance(event, h11.Data):
                received += event.data
                if len(received) >= cap and status is not None:
                    # the rest is never read, so a huge answer cannot exhaust memory; an answer that
                    # ends exactly here still leaves the connection reusable
                    done = protocol.next_event() if len(received) == cap else None
                    if isinstance(done, h11.EndOfMessage):
                        return Answer(status, bytes(received)), _next_cycle(protocol)
                    return Answer(status, bytes(received[:cap])), False
            elif isinstance(event, h11.EndOfMessage):
                if status is None:
                    raise EgressError("the answer ended before its status line")
                return Answer(status, bytes(received)), _next_cycle(protocol)
            elif isinstance(event, h11.ConnectionClosed):
                raise EgressError("the receiver closed the connection without answering")
            # an informational (1xx) answer: the final one follows


def _next_cycle(protocol: h11.Connection) -> bool:
    """Ready the connection for the next request if both sides keep it alive and the receiver sent
    nothing beyond its answer (bytes we did not ask for would be taken for the next answer)."""
    unread, _ = protocol.trailing_data
    if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE and not unread:
        protocol.start_next_cycle()
        return True
    return False
