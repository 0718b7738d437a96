"""The HTTP client deliveries go out through: httpx, with its network backend replaced so the SSRF
policy is enforced on the address actually connected to, after DNS resolution (TLS still verifies the
host name of the URL), so DNS rebinding cannot slip past the check. Redirects are never followed (a 3xx
is just the answer), and nothing is read from the environment (no proxies, no netrc). `post_webhook`
makes one attempt of it: whatever happens is an outcome, never an exception.

Cost notes (profiled, see docs/benchmarks.md): httpcore's pool examines every connection it holds on
each request and each response, so the cost of a POST grows with the pool; deliveries therefore use one
small pool per endpoint and origin (the worker already limits what is in flight per endpoint; two
endpoints on one host never share connections, so a hanging one cannot hold the other's). `sniffio` is a
declared dependency because httpcore imports it on every request and a failing import is not cached.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from services.notify.domain.attempts import AttemptOutcome, outcome_for_status
from services.notify.domain.ssrf import EgressPolicy
from services.notify.resolver import Forbidden, Resolver, Unresolvable

REFUSED_PREFIX = "refused by egress policy: "
USER_AGENT = "CareLoop-Webhooks/1"
BACKSTOP_SECONDS = 300.0
"""httpx's own timeouts, far above any attempt timeout: the caller bounds the whole attempt."""
KEEPALIVE_SECONDS = 4.0
"""An idle connection is used again only this long: below the 5 s many servers (uvicorn, httpx's
own default) keep an idle connection, so we drop it before the receiver can close it under us."""


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

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


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
    return Target(parts.scheme, ascii_host, port)


class _Refused(httpcore.ConnectError):
    """Raised inside httpcore by the guarded backend; surfaces as EgressRefused."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses if any of its addresses is forbidden, then connects to a
    checked address (never to the name, which could resolve differently a second time)."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolver.allowed_addresses(host, port)
        except Forbidden as exc:
            raise _Refused(REFUSED_PREFIX + exc.reason) from exc
        except Unresolvable as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}: {last}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


POOL_CONNECTIONS = 4
"""Connections per httpx pool: httpcore examines every connection of a pool on each request and each
response, so an origin's connections are spread over several small pools (1.0-1.2 ms of CPU per POST
with pools of 1-4 here, 2.5 ms with one pool of 32)."""


class _Pool:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.busy = 0


class EgressClient:
    """POSTs to webhook endpoints. Concurrency is the caller's business (the worker's per-endpoint
    limits); each endpoint gets at most `connections_per_endpoint` connections to its origin, in pools
    of POOL_CONNECTIONS."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        connections_per_endpoint: int = 8,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._resolver = Resolver(policy)
        self._per_endpoint = max(1, connections_per_endpoint)
        # no SSLKEYLOGFILE or other settings from the environment
        self._ssl = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._pools: dict[tuple[str, str, str, int], list[_Pool]] = {}
        self._closed = False

    def _pool_for(self, endpoint: str, target: Target) -> _Pool:
        key = (endpoint, *target.origin)
        pools = self._pools.get(key)
        if pools is None:
            if self._closed:
                raise EgressError("the client is closed")
            sizes = [POOL_CONNECTIONS] * (self._per_endpoint // POOL_CONNECTIONS)
            if self._per_endpoint % POOL_CONNECTIONS:
                sizes.append(self._per_endpoint % POOL_CONNECTIONS)
            pools = self._pools[key] = [_Pool(self._client(size)) for size in sizes]
        return min(pools, key=lambda pool: pool.busy)

    def _client(self, connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
        )
        transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        # httpx has no public hook for the network backend; replace the pool with an equivalent one
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._ssl,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(self._resolver),
        )
        return httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=BACKSTOP_SECONDS,
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
        )

    async def post(
        self, endpoint: str, url: str, body: bytes, headers: Mapping[str, str], cap: int
    ) -> Answer:
        """One POST for `endpoint` (whose connections it uses); raises EgressError (ConnectFailed,
        EgressRefused) for anything but an answer. Unbounded in time: the caller bounds the attempt."""
        pool = self._pool_for(endpoint, parse_target(url))
        pool.busy += 1
        try:
            async with pool.client.stream("POST", url, content=body, headers=dict(headers)) as response:
                received = bytearray()
                if cap > 0:
                    # the rest is never read, so a huge answer cannot exhaust memory
                    async for chunk in response.aiter_raw():
                        received += chunk
                        if len(received) >= cap:
                            break
                return Answer(response.status_code, bytes(received[:cap]))
        except httpx.ConnectError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _Refused) or str(exc).startswith(REFUSED_PREFIX):
                raise EgressRefused(str(exc)) from exc
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        except (httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise EgressError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            pool.busy -= 1

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = [p for ps in self._pools.values() for p in ps], {}
        for pool in pools:
            await pool.client.aclose()


MAX_ERROR_CHARS = 500
"""An attempt's error is kept this long at most (the response body has its own cap)."""


@dataclass(frozen=True)
class AttemptResult:
    outcome: AttemptOutcome
    status_code: int | None
    seconds: float
    response_body: str | None
    error: str | None


async def post_webhook(
    client: EgressClient,
    endpoint: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    cap: int,
) -> AttemptResult:
    """One POST, bounded in total time and in how much of the answer is read; never raises for
    network trouble (that is an outcome)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            answer = await client.post(endpoint, url, body, headers, cap)
    except TimeoutError:
        outcome, error = AttemptOutcome.TIMEOUT, f"no complete answer within {timeout:g} s"
    except EgressRefused as exc:
        outcome, error = AttemptOutcome.REFUSED, str(exc)
    except ConnectFailed as exc:
        outcome, error = AttemptOutcome.CONNECT_ERROR, str(exc) or type(exc).__name__
    except Exception as exc:  # whatever the remote side provokes is an outcome, never a stuck delivery
        outcome, error = AttemptOutcome.NETWORK_ERROR, f"{type(exc).__name__}: {exc}"
    else:
        outcome = outcome_for_status(answer.status_code)
        return AttemptResult(
            outcome,
            answer.status_code,
            time.perf_counter() - started,
            # Postgres text cannot hold NUL; a binary answer must not make the attempt unrecordable
            answer.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            None if outcome.succeeded else f"HTTP {answer.status_code}",
        )
    return AttemptResult(outcome, None, time.perf_counter() - started, None, error[:MAX_ERROR_CHARS])
