"""The HTTP client deliveries go out through: the SSRF policy is enforced on the address actually
connected to (after DNS resolution), redirects are never followed, and nothing is read from the
environment (no proxies, no netrc)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore
import httpx

from services.notify.domain.ssrf import EgressPolicy, IPAddress, literal_address

REFUSED_PREFIX = "refused by egress policy: "


class EgressRefused(httpcore.ConnectError):
    pass


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses forbidden addresses, then connects to the checked address
    (TLS still verifies the original host name), so DNS rebinding cannot slip past the check."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

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

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no addresses")
        for address in addresses:
            refusal = self._policy.refusal(host, address)
            if refusal is not None:
                raise EgressRefused(REFUSED_PREFIX + refusal)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(policy: EgressPolicy, max_connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    # httpx has no public hook for the network backend; replace the pool with an equivalent one.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)


def is_refusal(error: BaseException) -> bool:
    return str(error).startswith(REFUSED_PREFIX)
