"""Answering over the real Kafka and Postgres: the HTML form, the JSON endpoint, detractors, token
misuse (reused, expired, forged), and plain-text comments."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import urljoin

import pytest

from runtime.settings import Settings
from tests.support.stack import http_client, running_service
from tests.survey.support import clock_of, customer, invite, rows, survey_events

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def fast_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")


async def test_answer_through_the_html_form_then_the_link_is_used_up(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        survey_id, token = await invite(infra, app, clock, "shop-a", "o-form", customer("c-form"))

        page = await client.get(f"/s/{token}", params={"score": "9"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        html = page.text
        assert '<html lang="pl">' in html
        assert "Jak prawdopodobne jest, że polecisz nas znajomemu lub współpracownikowi?" in html
        assert '<header class="brand"><p>Shop A</p></header>' in html  # the name on its own
        assert '<input type="radio" name="score" id="score-9" value="9" checked' in html
        assert html.count('name="score"') == 11  # 0..10
        assert "<script" not in html
        assert "http://" not in html.split("</head>")[0].replace('content="width', "")  # no external assets
        href = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)[0]
        style = await client.get(urljoin(f"http://careloop.test/s/{token}", href))
        assert style.status_code == 200
        assert style.url.path == "/s/static/survey.css"
        assert style.headers["content-type"].startswith("text/css")
        assert ".scale" in style.text

        comment = "Paczka <b>przyszła</b> & </textarea><script>alert(1)</script>"
        done = await client.post(f"/s/{token}", data={"score": "9", "comment": comment})
        assert done.status_code == 200
        assert "Dziękujemy!" in done.text
        assert "Nie musisz nic więcej robić." in done.text  # a promoter: nothing follows
        assert "skontaktuje" not in done.text

        again = await client.get(f"/s/{token}")
        assert again.status_code == 410
        assert "Ta ankieta została już wypełniona" in again.text
        second = await client.post(f"/s/{token}", data={"score": "0"})
        assert second.status_code == 410

        stored = await rows(app, "SELECT score, comment, via FROM answers WHERE survey_id = $1", survey_id)
        assert [(r["score"], r["comment"], r["via"]) for r in stored] == [(9, comment, "page")]
        events = await survey_events(infra, at_least=2)
        answered = [e.data for e in events if e.type == "survey.answered"]
        assert len(answered) == 1
        assert answered[0].score == 9
        assert answered[0].comment == comment  # plain text, exactly as typed
        assert not [e for e in events if e.type == "survey.detractor"]


async def test_a_form_without_a_score_is_shown_again_and_the_link_stays_valid(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        _, token = await invite(infra, app, clock, "shop-b", "o-empty", customer("c-empty", locale="en"))
        missing = await client.post(f"/s/{token}", data={"comment": "<i>kept</i>"})
        assert missing.status_code == 422
        assert "Please choose a score." in missing.text
        assert "&lt;i&gt;kept&lt;/i&gt;</textarea>" in missing.text  # escaped, never HTML
        out_of_scale = await client.post(f"/s/{token}", data={"score": "11"})
        assert out_of_scale.status_code == 422
        oversized = await client.post(f"/s/{token}", data={"score": "10", "comment": "x" * 300_000})
        assert oversized.status_code == 413
        assert oversized.json()["error"] == "body_too_large"
        ok = await client.post(f"/s/{token}", data={"score": "10"})
        assert ok.status_code == 200
        assert "Thank you!" in ok.text


async def test_detractor_answer_via_json_emits_survey_detractor(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        who = customer("c-sad", "sad@example.com")
        survey_id, token = await invite(infra, app, clock, "shop-a", "o-sad", who)
        response = await client.post(
            "/v1/answers", json={"token": token, "score": 3, "comment": "Courier was rude"}
        )
        assert response.status_code == 201
        assert response.json() == {"survey_id": survey_id, "kind": "nps", "score": 3, "detractor": True}

        events = await survey_events(infra, at_least=3)
        detractors = [e for e in events if e.type == "survey.detractor"]
        assert len(detractors) == 1
        d = detractors[0].data
        assert (d.shop_id, d.survey_id, d.kind, d.score, d.comment, d.order_id, d.ticket_id) == (
            "shop-a",
            survey_id,
            "nps",
            3,
            "Courier was rude",
            "o-sad",
            None,
        )
        assert d.customer.id == "c-sad"
        assert d.customer.email == "sad@example.com"
        assert d.at == clock.now()
        assert detractors[0].subject == survey_id


async def test_token_misuse_reused_expired_forged(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        _, used = await invite(infra, app, clock, "shop-a", "o-used", customer("c-used"))
        _, stale = await invite(infra, app, clock, "shop-a", "o-stale", customer("c-stale"))

        assert (await client.post("/v1/answers", json={"token": used, "score": 8})).status_code == 201
        reused = await client.post("/v1/answers", json={"token": used, "score": 0})
        assert reused.status_code == 410
        assert reused.json()["error"] == "already_answered"

        forged_token = used[:-4] + ("AAAA" if not used.endswith("AAAA") else "BBBB")
        forged = await client.post("/v1/answers", json={"token": forged_token, "score": 10})
        assert forged.status_code == 404
        assert forged.json()["error"] == "unknown_token"
        forged_page = await client.get(f"/s/{forged_token}", headers={"accept-language": "pl-PL,pl"})
        assert forged_page.status_code == 404
        assert "Nie znaleźliśmy tej ankiety" in forged_page.text

        invalid = await client.post("/v1/answers", json={"token": stale, "score": 42})
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["field"] == "score"

        clock.advance(timedelta(days=30, minutes=1))
        expired = await client.post("/v1/answers", json={"token": stale, "score": 10})
        assert expired.status_code == 410
        assert expired.json()["error"] == "expired"
        expired_page = await client.get(f"/s/{stale}")
        assert expired_page.status_code == 410
        assert "Link do ankiety wygasł" in expired_page.text

        scores = await rows(
            app, "SELECT i.order_id, a.score FROM answers a JOIN invitations i USING (survey_id)"
        )
        assert [(r["order_id"], r["score"]) for r in scores] == [("o-used", 8)]
        answered = [e for e in await survey_events(infra, at_least=3) if e.type == "survey.answered"]
        assert len(answered) == 1


async def test_concurrent_answers_with_one_token_record_one(infra: Settings) -> None:
    async with running_service(infra, "survey") as app, http_client(app) as client:
        clock = clock_of(app)
        survey_id, token = await invite(infra, app, clock, "shop-a", "o-race", customer("c-race"))
        results = await asyncio.gather(
            *(client.post("/v1/answers", json={"token": token, "score": s}) for s in range(10))
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201] + [410] * 9
        assert len(await rows(app, "SELECT 1 FROM answers WHERE survey_id = $1", survey_id)) == 1
