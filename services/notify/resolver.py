"""A webhook host's addresses, each judged by the egress policy: the one path for both moments the
policy is checked, when an endpoint's URL is set (the API) and on every connection a delivery makes
(egress.py's network backend, which then connects only to the addresses judged here)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from services.notify.domain.ssrf import EgressPolicy, IPAddress, literal_address


class Unresolvable(Exception):
    """The host has no address now (DNS failed or answered nothing)."""


class Forbidden(Exception):
    """The policy forbids one of the host's addresses."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Resolver:
    policy: EgressPolicy

    async def allowed_addresses(self, host: str, port: int | None = None) -> list[IPAddress]:
        """The host's addresses in the order the resolver gave them, if the policy allows every one
        (a name with one internal address among public ones is refused: which one a connection gets
        is not ours to choose). Raises Forbidden with the first refusal, or Unresolvable."""
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise Unresolvable(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise Unresolvable(f"{host} has no addresses")
        refusal = self.policy.first_refusal(host, addresses)
        if refusal is not None:
            raise Forbidden(refusal)
        return addresses


async def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """An address literal as itself, a name through DNS (each address once, in the order given)."""
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
