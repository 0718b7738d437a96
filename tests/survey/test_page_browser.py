"""The answer page in real headless Chromium, served by uvicorn over real HTTP."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from runtime.settings import Settings
from tests.support.net import free_port
from tests.support.stack import running_service
from tests.survey.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.survey.support import clock_of, customer, invite, rows, survey_events

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


@pytest.mark.timeout(120)
async def test_answer_in_a_real_browser_then_the_link_shows_already_answered(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")
    port = free_port()
    settings = infra.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    async with running_service(settings, "survey") as app, served(app, port), async_playwright() as p:
        clock = clock_of(app)
        survey_id, _ = await invite(settings, app, clock, "shop-a", "o-browser", customer("c-browser"))
        link = next(e.data.link for e in await survey_events(settings, 1) if e.type == "survey.invited")
        assert link.startswith(f"http://127.0.0.1:{port}/s/")

        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="pl-PL")
            await page.goto(link + "?score=9")
            assert await page.get_attribute("html", "lang") == "pl"
            assert await page.is_checked("#score-9")  # the one click from the e-mail

            # keyboard: arrow keys move the choice, and the focused button shows a focus ring
            await page.focus("#score-9")
            await page.keyboard.press("ArrowLeft")
            assert await page.is_checked("#score-8")
            ring = await page.evaluate(
                "getComputedStyle(document.querySelector('label[for=score-8]')).outlineStyle"
            )
            assert ring == "solid"

            # choose by the visible button, reached through its label as a customer would
            await page.get_by_label("3", exact=True).check()
            assert await page.is_checked("#score-3")
            assert not await page.is_checked("#score-9")
            await page.get_by_label("Chcesz nam coś przekazać? (opcjonalnie)").fill("Kurier <b>spóźniony</b>")
            await page.get_by_role("button", name="Wyślij odpowiedź").click()
            await page.wait_for_load_state()
            assert await page.locator("h1").inner_text() == "Dziękujemy!"

            reopened = await page.goto(link)
            assert reopened is not None
            assert reopened.status == 410
            assert await page.locator("h1").inner_text() == "Ta ankieta została już wypełniona"
            assert await page.locator("form").count() == 0
        finally:
            await browser.close()

        answers = await rows(app, "SELECT score, comment, via FROM answers WHERE survey_id = $1", survey_id)
        assert [(a["score"], a["comment"], a["via"]) for a in answers] == [
            (3, "Kurier <b>spóźniony</b>", "page")
        ]
        detractors = [e for e in await survey_events(settings, 3) if e.type == "survey.detractor"]
        assert [d.data.score for d in detractors] == [3]
