"""The survey pages on a phone and a desktop, in real headless Chromium over real HTTP: the answer
page, the thank-you page and the already-answered page, measured by the browser (one continuous
0-10 scale of 44 px targets, the submit button in view, nothing wider than the screen, readable
contrast, keyboard order) and photographed.

The screenshots are written to docs/img/ (shown in docs/survey.md) when CARELOOP_UPDATE_SCREENSHOT is
set; otherwise only to the test's temporary directory, so a test run never changes the tree."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from runtime.settings import Settings
from tests.support.net import free_port
from tests.support.stack import running_service
from tests.survey.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    COLOURS_JS,
    LAYOUT_JS,
    Layout,
    continuous_direction,
    contrast,
    png_size,
    served,
)
from tests.survey.support import clock_of, customer, invitation_link, invite, rows

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TARGET_PX = 44  # the smallest touch target, in CSS px
SHOP_SITES = {
    "shop-a": ("Sklep Demo", "https://sklep-demo.example/"),
    "shop-b": ("Demo Store", "https://demo-store.example/"),
}


@dataclass(frozen=True)
class Screen:
    name: str
    width: int
    height: int
    shop: str
    """shop-a (Polish) or shop-b (English), named and linked as in SHOP_SITES."""
    locale: str
    score: int
    """What the customer answers: a detractor on the phone, a promoter on the desktop."""
    question: str
    thanks: tuple[str, str]
    submit: str
    answered: str
    back: str


PHONE = Screen(
    "390",
    390,
    844,
    "shop-a",
    "pl-PL",
    3,
    "Jak prawdopodobne jest, że polecisz nas znajomemu lub współpracownikowi?",
    (
        "Twoja odpowiedź została zapisana.",
        "Przykro nam, że tym razem nie wszystko poszło dobrze. "
        "Nasz zespół obsługi klienta skontaktuje się z Tobą, żeby to wyjaśnić.",
    ),
    "Wyślij odpowiedź",
    "Ta ankieta została już wypełniona",
    "Wróć do sklepu",
)
DESKTOP = Screen(
    "1280",
    1280,
    900,
    "shop-b",
    "en-GB",
    9,
    "How likely are you to recommend us to a friend or colleague?",
    (
        "Your answer has been recorded.",
        "There is nothing else you need to do. Your feedback helps us do better.",
    ),
    "Send my answer",
    "This survey has already been answered",
    "Back to the shop",
)


def shops_with_sites(settings: Settings, directory: Path) -> Settings:
    """The test shops, named like the demo's and with a site to link back to."""
    document = json.loads(settings.shops_file.read_text())
    for shop in document["shops"]:
        shop["name"], shop["url"] = SHOP_SITES[shop["id"]]
    path = directory / "shops.json"
    path.write_text(json.dumps(document))
    return settings.model_copy(update={"shops_file": path})


def text(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").split())


async def layout(page: Page, name: str = "score") -> Layout:
    return Layout.of(await page.evaluate(LAYOUT_JS, name))


def assert_fits_the_screen(measured: Layout) -> None:
    assert measured.scroll_width <= measured.viewport_width, "the page scrolls sideways"


def assert_one_scale_in_reach(measured: Layout, *, row: bool) -> None:
    assert len(measured.targets) == 11
    for box in measured.targets + measured.inputs:
        assert min(box.width, box.height) >= TARGET_PX, box
    for target, tapped in zip(measured.targets, measured.inputs, strict=True):
        assert tapped == target  # the radio covers its whole option: the whole box is the target
    direction = continuous_direction(measured.targets)
    assert direction in (("row",) if row else ("row", "column")), measured.targets
    assert all(b.x >= 0 and b.right <= measured.viewport_width for b in measured.targets)
    submit = measured.submit
    assert submit is not None
    # in view as the page opens, without scrolling either way, and not under anything
    assert submit.x >= 0
    assert submit.right <= measured.viewport_width
    assert submit.y >= 0
    assert submit.bottom <= measured.viewport_height
    assert submit.height >= TARGET_PX
    assert measured.submit_covered is False


async def assert_readable(page: Page, selectors: list[str]) -> None:
    for selector in selectors:
        foreground, background = await page.evaluate(COLOURS_JS, selector)
        assert contrast(foreground, background) >= 4.5, (selector, foreground, background)


async def photograph(page: Page, tmp_path: Path, name: str, screen: Screen) -> None:
    """What the customer sees without scrolling (a full-page shot would draw the sticky submit
    button where the screen ended, over the form)."""
    shot = tmp_path / f"survey-{name}-{screen.name}.png"
    await page.screenshot(path=str(shot))
    assert png_size(shot.read_bytes()) == (screen.width, screen.height)
    if os.environ.get("CARELOOP_UPDATE_SCREENSHOT"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        (DOCS_IMG / shot.name).write_bytes(shot.read_bytes())


async def check_keyboard_order(page: Page) -> None:
    """From a freshly opened page Tab goes score, comment, submit; a focused field is never hidden
    behind the sticky submit button."""
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.name") == "score"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "comment"
    visible = await page.evaluate(
        """() => { const c = document.activeElement.getBoundingClientRect();
                   const bar = document.querySelector('.actions').getBoundingClientRect();
                   return c.top >= 0 && c.bottom <= bar.top; }"""
    )
    assert visible, "the focused comment field is under the submit button"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.type") == "submit"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=lambda s: s.name)
async def test_pages_on_a_phone_and_a_desktop(
    infra: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, screen: Screen
) -> None:
    monkeypatch.setenv("SURVEY_SWEEP_SECONDS", "0.1")
    port = free_port()
    settings = shops_with_sites(infra, tmp_path).model_copy(
        update={"public_base_url": f"http://127.0.0.1:{port}"}
    )
    async with running_service(settings, "survey") as app, served(app, port), async_playwright() as p:
        clock = clock_of(app)
        who = customer(f"c-{screen.name}", locale=screen.locale)
        survey_id, _ = await invite(settings, app, clock, screen.shop, f"o-{screen.name}", who)
        link = await invitation_link(settings, survey_id)
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(
                viewport={"width": screen.width, "height": screen.height}, locale=screen.locale
            )
            brand, site = SHOP_SITES[screen.shop]
            opened = await page.goto(link)
            assert opened is not None
            assert opened.status == 200
            assert text(await page.locator("legend h1").inner_text()) == screen.question
            assert await page.locator("header.brand").inner_text() == brand
            answer_page = await layout(page)
            assert_fits_the_screen(answer_page)
            assert_one_scale_in_reach(answer_page, row=screen.width >= 1024)
            await page.get_by_label(str(screen.score), exact=True).check()
            await assert_readable(
                page,
                [
                    "header.brand p",
                    "legend h1",
                    "label[for=score-5]",
                    f"label[for=score-{screen.score}]",  # chosen: white on the accent
                    "label[for=score-0] .anchor",
                    "label.comment",
                    "button[type=submit]",
                ],
            )
            await page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
            await photograph(page, tmp_path, "answer", screen)

            await page.goto(link)  # afresh, for the keyboard from the top of the page
            await check_keyboard_order(page)
            if screen is PHONE:  # the narrowest phones in use: still one scale, nothing off screen
                await page.set_viewport_size({"width": 360, "height": 740})
                await page.evaluate("window.scrollTo(0, 0)")
                narrow = await layout(page)
                assert_fits_the_screen(narrow)
                assert_one_scale_in_reach(narrow, row=False)
                await page.set_viewport_size({"width": screen.width, "height": screen.height})
            await page.get_by_label(str(screen.score), exact=True).check()
            await page.get_by_role("button", name=screen.submit).click()
            await page.wait_for_load_state()
            assert await page.locator("h1").inner_text() in ("Dziękujemy!", "Thank you!")
            paragraphs = [text(t) for t in await page.locator(".card p").all_inner_texts()]
            assert paragraphs == list(screen.thanks)
            back = page.get_by_role("link", name=screen.back)
            assert await back.get_attribute("href") == site
            link_box = await back.bounding_box()
            assert link_box is not None
            assert link_box["height"] >= TARGET_PX
            assert link_box["y"] + link_box["height"] <= screen.height  # in view without scrolling
            assert_fits_the_screen(await layout(page))
            await assert_readable(page, ["h1", ".card p", "a.button"])
            await photograph(page, tmp_path, "thanks", screen)

            reopened = await page.goto(link)
            assert reopened is not None
            assert reopened.status == 410
            assert await page.locator("h1").inner_text() == screen.answered
            assert await page.locator("form").count() == 0
            assert await page.get_by_role("link", name=screen.back).count() == 1
            assert_fits_the_screen(await layout(page))
            await photograph(page, tmp_path, "answered", screen)
        finally:
            await browser.close()

        stored = await rows(app, "SELECT score, via FROM answers WHERE survey_id = $1", survey_id)
        assert [(r["score"], r["via"]) for r in stored] == [(screen.score, "page")]
