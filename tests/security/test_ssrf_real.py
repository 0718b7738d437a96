"""Webhook SSRF: without an operator allowlist, notify refuses every endpoint URL that reaches
loopback, private, link-local, shared or unspecified addresses — in whatever spelling — on create
and on update, and stores nothing. A host that does not resolve at all is accepted by design: the
connect-time check refuses it then (covered, with redirects, in tests/notify/test_security_real.py)."""

from __future__ import annotations

import pytest

from runtime.settings import Settings
from services.notify.config import NotifyConfig
from tests.faults.inprocess import running_services
from tests.support.shops import KEY_A, auth
from tests.support.stack import http_client

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]

INTERNAL_URLS = (
    "http://127.0.0.1/hook",
    "http://127.1/hook",  # short form
    "http://2130706433/hook",  # decimal
    "http://0x7f000001/hook",  # hexadecimal
    "http://017700000001/hook",  # octal
    "http://0/hook",
    "http://0.0.0.0/hook",
    "http://localhost/hook",
    "http://LocalHost:8004/hook",  # case
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/latest",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1:8080/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT (shared address space)
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # IPv6 cloud metadata (unique local)
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "https://127.0.0.1:443/hook",
)
MALFORMED_URLS = (
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "ftp://example.com/",
    "http://user:password@example.com/hook",
    "javascript:alert(1)",
    "//127.0.0.1/hook",
)
PUBLIC_URL = "https://93.184.215.14/hook"  # a public literal address: accepted without DNS


async def test_internal_and_malformed_endpoint_urls_are_refused_on_create_and_update(infra: Settings) -> None:
    strict = NotifyConfig(allow_loopback=False, allowed_private_hosts="")
    async with running_services(infra, ["notify"], strict) as apps, http_client(apps["notify"]) as client:
        failures = []
        for url in INTERNAL_URLS + MALFORMED_URLS:
            response = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
            if response.status_code != 422:
                failures.append(f"create {url}: {response.status_code} {response.text[:200]}")
        accepted = await client.post("/v1/endpoints", json={"url": PUBLIC_URL}, headers=auth(KEY_A))
        assert accepted.status_code == 201, accepted.text
        endpoint_id = accepted.json()["id"]
        for url in INTERNAL_URLS + MALFORMED_URLS:
            response = await client.patch(
                f"/v1/endpoints/{endpoint_id}", json={"url": url}, headers=auth(KEY_A)
            )
            if response.status_code != 422:
                failures.append(f"update to {url}: {response.status_code} {response.text[:200]}")
        stored = await apps["notify"].runtime.db.pool.fetch("SELECT url FROM endpoints")
    assert not failures, "\n".join(failures)
    assert [r["url"] for r in stored] == [PUBLIC_URL]
