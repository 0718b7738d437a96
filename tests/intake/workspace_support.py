"""Shared by the workspace's tests: an agent with a token, a signed-in httpx client, a ticket, a form's
CSRF token, a cookie's flags."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from typing import Any

import httpx

from tests.intake.helpers import Intake, post_contact
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


def cookie_attributes(response: httpx.Response, name: str) -> dict[str, str | bool]:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            return {key: morsel[key] for key in ("httponly", "samesite", "path", "secure", "max-age")}
    raise AssertionError(f"no {name} cookie set")


@asynccontextmanager
async def signed_in(
    intake: Intake, key: str = KEY_A, **agent: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """A new agent of the key's shop, signed in on a browser of their own."""
    created = await create_agent(intake, key, **agent)
    async with browser(intake) as client:
        response = await sign_in(client, created["token"])
        assert response.status_code == 303, response.text
        yield client, created


async def open_ticket(
    intake: Intake, key: str = KEY_A, body: str = "Where is my parcel?", email: str = "anna@example.com"
) -> str:
    response = await post_contact(intake, key, customer_email=email, body=body)
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
