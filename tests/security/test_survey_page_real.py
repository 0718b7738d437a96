"""The public survey page under random input: random tokens never reach anything and are never
echoed unescaped; a real token survives hundreds of random scores and form fields without a 5xx,
records nothing until one valid answer, records that one exactly once, and refuses everything after."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderDelivered
from tests.faults.inprocess import running_services
from tests.faults.support import Producer, events_on
from tests.support.shops import SHOP_A
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

HOSTILE_TOKENS = (
    "<script>alert(1)</script>",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "' OR '1'='1",
    "..%2F..%2Fetc%2Fpasswd",
    "\u202e\u0000nul",
    "x" * 5000,
    "\uff54\uff4f\uff4b\uff45\uff4e",  # full-width letters
)


def random_text(rng: random.Random, size: int) -> str:
    alphabet = string.printable + "żółć€\u202e<>\"'&"
    return "".join(rng.choice(alphabet) for _ in range(size))


def random_form(rng: random.Random) -> dict[str, str]:
    form = {}
    for field in ("score", "speed", "accuracy", "comment", rng.choice(["extra", "token", "shop_id"])):
        if rng.random() < 0.8:
            kind = rng.random()
            if kind < 0.4:
                form[field] = str(rng.randint(-1000, 1000))
            elif kind < 0.6:
                form[field] = rng.choice(["", " ", "1e3", "NaN", "-0", "0x5", "\u0661", "10.0", "\u0665"])
            else:
                form[field] = random_text(rng, rng.randint(0, 3000))
    return form


class PageChecker:
    """Notes every answer that failed (5xx) or reflected a hostile token unescaped."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    async def check(self, response: httpx.Response, what: str) -> None:
        if response.status_code >= 500:
            self.failures.append(f"{what}: {response.status_code}")
        for token in HOSTILE_TOKENS[:2]:
            if token in response.text:
                self.failures.append(f"{what}: reflected unescaped markup")


def invalid_form(rng: random.Random) -> dict[str, str]:
    """A random form that is never a valid answer (the valid answer is sent on purpose, once)."""
    form = random_form(rng)
    score = form.get("score", "")
    if score.strip().lstrip("-").isdigit() and 0 <= int(score) <= 10:
        form["score"] = "11"
    return form


async def invited_token(infra: Settings, app: ServiceApp, clock: ManualClock, delivered_at: datetime) -> str:
    """Deliver an order, let the sweep send its NPS invitation, and return the invitation's token."""
    who = Customer(id="c-page", email="page@example.com", locale="en")
    data = OrderDelivered(shop_id=SHOP_A, order_id="o-page", customer=who, delivered_at=delivered_at)
    async with Producer(infra) as producer:
        await producer.send(topics.ORDERS.name, make_event("order.delivered", "shop", data, subject="o-page"))
    pool = app.runtime.db.pool

    async def scheduled() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM invitations"))

    await eventually(scheduled, timeout=30)
    clock.advance(timedelta(days=8))  # past the NPS delay: the sweep sends the invitation
    invited = await eventually(lambda: _invitation(infra), timeout=30)
    return invited.rsplit("/", 1)[1]


async def test_random_tokens_and_scores_never_break_the_answer_page(infra: Settings) -> None:
    rng = random.Random(20261123)
    delivered_at = datetime.now(UTC) - timedelta(hours=1)
    async with running_services(infra, ["survey"]) as apps, http_client(apps["survey"]) as client:
        app = apps["survey"]
        clock = ManualClock(datetime.now(UTC))
        app.runtime.clock = clock
        checker = PageChecker()

        for token in HOSTILE_TOKENS + tuple(random_text(rng, rng.randint(1, 300)) for _ in range(60)):
            path = "/s/" + quote(token, safe="")
            await checker.check(await client.get(path), f"GET {token[:20]!r}")
            await checker.check(await client.post(path, data=random_form(rng)), f"POST {token[:20]!r}")

        token = await invited_token(infra, app, clock, delivered_at)
        pool = app.runtime.db.pool
        for n in range(150):
            form = invalid_form(rng)
            response = await client.post(f"/s/{token}", data=form)
            await checker.check(response, f"POST real token #{n}")
            if n % 25 == 0:
                answer = await client.get(f"/s/{token}", params={"score": form.get("score", "")})
                await checker.check(answer, "GET")
        assert await pool.fetchval("SELECT count(*) FROM answers") == 0, "an invalid form was recorded"

        answered = await client.post(f"/s/{token}", data={"score": "9", "comment": "<b>bold</b> & fine"})
        assert answered.status_code == 200
        for _ in range(20):
            again = await client.post(f"/s/{token}", data=random_form(rng) | {"score": "3"})
            assert again.status_code == 410
        rows = await pool.fetch("SELECT score, comment FROM answers")
    assert not checker.failures, "\n".join(checker.failures[:20])
    assert [(r["score"], r["comment"]) for r in rows] == [(9, "<b>bold</b> & fine")]


async def _invitation(settings: Settings) -> str:
    events = await events_on(settings, topics.SURVEYS.name, at_least=1, timeout=2)
    links = [e.data.link for e in events if e.type == "survey.invited"]
    return links[0] if links else ""
