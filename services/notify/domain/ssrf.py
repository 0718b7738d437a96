"""Which addresses a webhook may be sent to: public ones, plus what the operator allowlisted.

Checked on the address actually connected to (after DNS), so a name that resolves to an internal
address — at creation or later, by rebinding — is refused the same way as a literal one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressClass(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"


def classify(address: IPAddress) -> AddressClass:
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and friends reach the IPv4 address: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return classify(embedded)
    if address.is_unspecified:
        return AddressClass.UNSPECIFIED
    if address.is_loopback:
        return AddressClass.LOOPBACK
    if address.is_link_local:
        return AddressClass.LINK_LOCAL
    if address.is_multicast:
        return AddressClass.MULTICAST
    if address.is_private:
        return AddressClass.PRIVATE
    if address.is_reserved or not address.is_global:
        return AddressClass.RESERVED  # e.g. 100.64.0.0/10 carrier-grade NAT, documentation ranges
    return AddressClass.PUBLIC


@dataclass(frozen=True)
class EgressPolicy:
    allow_loopback: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_allowlist(cls, allow_loopback: bool, entries: Iterable[str]) -> EgressPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(allow_loopback, frozenset(hosts), tuple(networks))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """None if `host` resolving to `address` may be contacted, else why not."""
        kind = classify(address)
        if kind is AddressClass.PUBLIC:
            return None
        if kind is AddressClass.LOOPBACK and self.allow_loopback:
            return None
        if kind in (AddressClass.MULTICAST, AddressClass.UNSPECIFIED):
            return f"{address} is a {kind.value} address"
        if host.lower().rstrip(".") in self.allowed_hosts:
            return None
        if any(address in network for network in self.allowed_networks):
            return None
        return f"{host} resolves to {address}, a {kind.value.replace('_', '-')} address, not allowlisted"

    def first_refusal(self, host: str, addresses: Iterable[IPAddress]) -> str | None:
        """None if `host` may be contacted at every one of `addresses`, else why not (the first
        address refused): one forbidden address refuses the host."""
        for address in addresses:
            refusal = self.refusal(host, address)
            if refusal is not None:
                return refusal
        return None


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as a webhook target, independent of DNS (None if nothing)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "the URL must be http or https"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; authenticate with the signature"
    try:
        _ = parts.port
    except ValueError:
        return "the URL has an invalid port"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
