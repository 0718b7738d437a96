"""The one resolver the API's URL check and every delivery connection go through: a literal as itself,
a name through the system's resolver (`localhost` from the hosts file, `.invalid` never resolves)."""

from __future__ import annotations

import ipaddress

import pytest

from services.notify.domain.ssrf import EgressPolicy
from services.notify.resolver import Forbidden, Resolver, Unresolvable

STRICT = Resolver(EgressPolicy())
LOOPBACK = Resolver(EgressPolicy(allow_loopback=True))


async def test_a_public_literal_is_itself_and_allowed() -> None:
    assert await STRICT.allowed_addresses("93.184.216.34", 443) == [ipaddress.ip_address("93.184.216.34")]
    assert await STRICT.allowed_addresses("[2a00:1450:4001::1]") == [
        ipaddress.ip_address("2a00:1450:4001::1")
    ]


async def test_a_name_is_judged_by_what_it_resolves_to() -> None:
    with pytest.raises(Forbidden) as refused:
        await STRICT.allowed_addresses("localhost", 80)
    assert refused.value.reason.startswith("localhost resolves to ")
    assert "a loopback address, not allowlisted" in refused.value.reason
    allowed = await LOOPBACK.allowed_addresses("localhost", 80)
    assert allowed
    assert all(address.is_loopback for address in allowed)


async def test_a_forbidden_literal_is_refused_without_asking_dns() -> None:
    with pytest.raises(Forbidden, match=r"^10\.1\.2\.3 resolves to 10\.1\.2\.3, a private address"):
        await LOOPBACK.allowed_addresses("10.1.2.3")


async def test_a_name_that_does_not_resolve_is_unresolvable_not_refused() -> None:
    with pytest.raises(Unresolvable, match=r"^cannot resolve nothing\.invalid: "):
        await STRICT.allowed_addresses("nothing.invalid", 443)
