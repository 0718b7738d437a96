from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.ssrf import AddressClass, EgressPolicy, classify, url_problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.9.9.9", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("10.1.2.3", AddressClass.PRIVATE),
        ("172.16.0.1", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("fd00::1", AddressClass.PRIVATE),
        ("169.254.169.254", AddressClass.LINK_LOCAL),  # cloud metadata
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("0.0.0.0", AddressClass.UNSPECIFIED),
        ("224.0.0.1", AddressClass.MULTICAST),
        ("100.64.0.1", AddressClass.RESERVED),
        ("::ffff:10.0.0.1", AddressClass.PRIVATE),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),
        ("2002:7f00:1::", AddressClass.LOOPBACK),  # 6to4 wrapping 127.0.0.1
        ("8.8.8.8", AddressClass.PUBLIC),
        ("2a00:1450:4001::1", AddressClass.PUBLIC),
    ],
)
def test_classification(address: str, kind: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is kind


def test_default_policy_refuses_everything_internal_and_says_why() -> None:
    policy = EgressPolicy()
    assert policy.refusal("example.com", ipaddress.ip_address("93.184.216.34")) is None
    reason = policy.refusal("internal.example", ipaddress.ip_address("10.0.0.5"))
    assert reason == "internal.example resolves to 10.0.0.5, a private address, not allowlisted"
    assert "loopback" in (policy.refusal("localhost", ipaddress.ip_address("127.0.0.1")) or "")
    assert "link-local" in (policy.refusal("x", ipaddress.ip_address("169.254.169.254")) or "")


def test_allowlist_by_loopback_flag_host_name_and_network() -> None:
    policy = EgressPolicy.from_allowlist(True, ["Hooks.Internal.", " 10.20.0.0/16 ", ""])
    assert policy.refusal("localhost", ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal("hooks.internal", ipaddress.ip_address("10.9.9.9")) is None
    assert policy.refusal("other.internal", ipaddress.ip_address("10.20.1.1")) is None
    assert policy.refusal("other.internal", ipaddress.ip_address("10.21.1.1")) is not None
    # never allowlistable
    assert policy.refusal("hooks.internal", ipaddress.ip_address("0.0.0.0")) is not None


def test_loopback_flag_does_not_open_private_ranges() -> None:
    policy = EgressPolicy(allow_loopback=True)
    assert policy.refusal("db", ipaddress.ip_address("192.168.0.10")) is not None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "the URL must be http or https"),
        ("https:///path", "the URL has no host"),
        ("https://user:pw@example.com/", "credentials in the URL are not allowed"),
        ("http://example.com:99999/", "the URL has an invalid port"),
        ("https://example.com/hooks", None),
    ],
)
def test_url_shape(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert found == problem if problem is None else (found or "").startswith(problem)


@given(st.ip_addresses())
def test_only_public_addresses_pass_the_default_policy(address: ipaddress.IPv4Address) -> None:
    allowed = EgressPolicy().refusal("h", address) is None
    assert allowed == (classify(address) is AddressClass.PUBLIC)
    if allowed:
        assert address.is_global


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_form_is_judged_like_the_ipv4_address(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert classify(mapped) is classify(address)


@given(st.lists(st.ip_addresses(), max_size=6))
def test_a_host_is_refused_if_any_of_its_addresses_is_and_the_first_refusal_says_why(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    policy = EgressPolicy()
    refusals = [r for r in (policy.refusal("h", a) for a in addresses) if r is not None]
    assert policy.first_refusal("h", addresses) == (refusals[0] if refusals else None)
