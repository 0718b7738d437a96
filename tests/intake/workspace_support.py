"""Shared by the workspace's tests: an agent with a token, and a signed-in httpx client."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.intake.helpers import Intake
from tests.support.shops import KEY_A, auth

HIDDEN_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def create_agent(intake: Intake, key: str = KEY_A, **fields: Any) -> dict[str, Any]:
    """A new agent of the key's shop, with their token (shown once)."""
    response = await intake.client.post("/v1/agents", json={"name": "Ola", **fields}, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = HIDDEN_CSRF.search(html)
    assert found is not None, "no form with a CSRF token on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    """Through the sign-in page, as a browser does: its form's token, then the POST."""
    form = await client.get("/workspace/sign-in")
    assert form.status_code == 200, form.text
    return await client.post(
        "/workspace/sign-in",
        data={"csrf": csrf_of(form.text), "token": token, **extra},
        follow_redirects=False,
    )


def browser(intake: Intake, base_url: str = "http://careloop.test") -> httpx.AsyncClient:
    """A client of its own (its own cookies) on the intake app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url=base_url)
