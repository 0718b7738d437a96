"""Secrets never reach logs or metrics: the services run as real processes with their real logging
(DEBUG level) while endpoints are created, secrets rotated, deliveries fail, wrong keys are tried
and poison arrives; then every log line and every /metrics page is searched for them."""

from __future__ import annotations

import re

import httpx
import pytest

from runtime.settings import Settings
from schemas import topics
from tests.faults.support import NOTIFY_ENV, SURVEY_ENV, Producer, service_processes
from tests.notify.harness import order_event
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, KEY_B, auth
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(150)]

WRONG_KEY = "clk_an_attackers_guess_0123456789abcdef"
URL_TOKEN = "hook-token-5f1c9e2a77"
"""A receiver's own credential in its URL query: the service must not spread it either."""
UNBOUNDED_LABELS = (
    r"tkt_[0-9a-f]{6}",
    r"ep_[0-9a-f]{6}",
    r"dlv_[0-9a-f]{6}",
    r"msg_[0-9a-f]{6}",
    r"@example\.com",
)


async def test_no_secret_in_any_log_line_or_metric(infra: Settings) -> None:
    async def failing(request: Received) -> Reply:
        # echo the signature back, as a careless receiver's error page might
        return Reply(500, request.headers.get("webhook-signature", "").encode())

    receiver = Receiver(failing)
    await receiver.start()
    env = {**NOTIFY_ENV, **SURVEY_ENV, "CARELOOP_LOG_LEVEL": "DEBUG"}
    secrets: list[str] = []
    try:
        async with service_processes(infra, ["intake", "notify", "survey"], env) as services:
            notify, intake, survey = services["notify"], services["intake"], services["survey"]
            async with httpx.AsyncClient(base_url=notify.url, timeout=10) as client:
                for key in (KEY_A, KEY_B):
                    created = await client.post(
                        "/v1/endpoints",
                        json={"url": receiver.url(f"/hook?token={URL_TOKEN}")},
                        headers=auth(key),
                    )
                    assert created.status_code == 201, created.text
                    secrets.append(created.json()["secret"])
                    rotated = await client.post(
                        f"/v1/endpoints/{created.json()['id']}/secret/rotate", json={}, headers=auth(key)
                    )
                    assert rotated.status_code == 200, rotated.text
                    secrets.append(rotated.json()["secret"])
                    listed = await client.get("/v1/endpoints", headers=auth(key))
                    assert all("secret" not in e for e in listed.json()), "a list must not show secrets"
                for path in ("/v1/endpoints", "/v1/templates"):
                    assert (await client.get(path, headers=auth(WRONG_KEY))).status_code == 401
            async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
                contact = {"channel": "chat", "customer_handle": "h", "body": f"my api_key={KEY_B}"}
                assert (
                    await client.post("/v1/contacts", json=contact, headers=auth(KEY_A))
                ).status_code == 201
                assert (await client.get("/v1/tickets", headers=auth(WRONG_KEY))).status_code == 401
            async with httpx.AsyncClient(base_url=survey.url, timeout=10) as client:
                assert (await client.get("/v1/reports/nps", headers=auth(KEY_A))).status_code == 200
                assert (await client.get("/v1/reports/nps", headers=auth(WRONG_KEY))).status_code == 401
            async with Producer(infra) as producer:
                await producer.send(topics.ORDERS.name, order_event("order.created", "o-secret"))
                await producer.send(
                    topics.ORDERS.name, f'{{"key": "{KEY_A}", "s": "{secrets[0]}"'.encode(), "p"
                )

            async def failed_attempts() -> bool:
                return len(receiver.requests) >= 4  # both endpoints, more than one attempt each

            await eventually(failed_attempts, timeout=30)
            metrics = {}
            for name, process in services.items():
                async with httpx.AsyncClient(base_url=process.url) as client:
                    metrics[name] = (await client.get("/metrics")).text
    finally:
        await receiver.stop()

    assert len(secrets) == 4
    logs = {name: process.log_path.read_text(errors="replace") for name, process in services.items()}
    assert "dead-lettering" in logs["notify"]  # the poison was handled (and logged) in this run
    forbidden = [KEY_A, KEY_B, WRONG_KEY, URL_TOKEN, "careloop-local", *secrets]
    forbidden += [s.removeprefix("whsec_") for s in secrets]  # the key material without its prefix
    for name, text in {**logs, **{f"{n} /metrics": m for n, m in metrics.items()}}.items():
        found = [f"{value[:10]}…" for value in forbidden if value in text]
        assert not found, f"{name} shows secrets: {found}"
    for name, text in metrics.items():
        for pattern in (r"whsec_", r"clk_", *UNBOUNDED_LABELS, re.escape(str(receiver.port))):
            assert not re.search(pattern, text), f"{name} /metrics has a label matching {pattern}"
