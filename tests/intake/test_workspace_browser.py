"""The workspace in real headless Chromium (Debian's, never a downloaded one) over real HTTP, against
the real Kafka and Postgres: an agent signs in with their token and, by keyboard alone (every stop
showing its focus), takes a ticket from the queue, sends a reply from a macro that is a
`ticket.replied` on Kafka and shows in the conversation, and writes an internal note that never
leaves CareLoop; another shop's ticket answers 404; a form without its CSRF token is refused; the
cookie is HttpOnly and SameSite; the colours are readable.

The pages are photographed into the test's temporary directory only (the README's pictures come from
a running stack: tools/workspace_shots.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from runtime.settings import Settings
from schemas.registry import decode_event
from schemas.topics import REPLIES
from tests.intake.helpers import Intake, fetchval, post_contact, running_intake, ticket_events
from tests.intake.workspace_support import create_agent
from tests.support.kafka import read_topic
from tests.support.net import free_port
from tests.support.shops import KEY_A, KEY_B, auth
from tests.survey.browser import CHROMIUM, CHROMIUM_ARGS, COLOURS_JS, contrast, png_size, served

pytestmark = [pytest.mark.kafka, pytest.mark.browser]

MACRO = {"pl": "Dzień dobry {{ customer_name }}, sprawdzamy paczkę.", "en": "Hello {{ customer_name }}."}
REPLY = "Dzień dobry Anna Kowalska, sprawdzamy paczkę. Wyjechała dziś."
MAX_TABS = 80

# The focused element, and whether the browser paints a focus indicator on it.
FOCUS_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute('name'),
    text: (el.innerText || el.value || '').trim().slice(0, 60),
    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
  };
}"""


async def tab_to(page: Page, selector: str) -> list[dict[str, str]]:
    """Press Tab until the element `selector` has the focus; every stop on the way must show it."""
    stops = []
    for _ in range(MAX_TABS):
        await page.keyboard.press("Tab")
        focus = await page.evaluate(FOCUS_JS)
        stops.append(focus)
        assert focus["ring"], f"no visible focus on {focus}"
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"{selector} not reached by Tab; stops: {stops}")


async def assert_readable(page: Page, selectors: list[str]) -> None:
    """WCAG AA: at least 4.5:1 between each element's text and what is painted behind it."""
    for selector in selectors:
        foreground, background = await page.evaluate(COLOURS_JS, selector)
        ratio = contrast(foreground, background)
        assert ratio >= 4.5, f"{selector}: {foreground} on {background} is {ratio:.2f}:1"


async def photograph(page: Page, tmp_path: Path, name: str) -> None:
    await page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
    shot = tmp_path / f"workspace-{name}.png"
    await page.screenshot(path=str(shot), full_page=False)
    assert png_size(shot.read_bytes()) == (1280, 800)


async def seed(intake: Intake) -> tuple[str, str, str]:
    """Shop A's late ticket and its next one, and shop B's ticket."""
    late = await post_contact(
        intake,
        customer_email="anna@example.com",
        customer_name="Anna Kowalska",
        subject="Gdzie jest paczka?",
        body="Zamówiłam w poniedziałek, nadal nic.",
    )
    calm = await post_contact(
        intake, customer_email="jan@example.com", body="Czy macie czajniki?", channel="chat"
    )
    theirs = await post_contact(intake, KEY_B, customer_email="bob@example.com", body="Shop B only")
    late_id, calm_id = late.json()["ticket_id"], calm.json()["ticket_id"]
    now = intake.clock.now()
    pool = intake.app.runtime.db.pool
    # deadlines as the SLA service's events would leave them (no SLA service in this test)
    await pool.execute(
        "UPDATE tickets SET sla_due_at = $2, breached = true WHERE id = $1",
        late_id,
        now - timedelta(minutes=5),
    )
    await pool.execute(
        "UPDATE tickets SET sla_due_at = $2 WHERE id = $1", calm_id, now + timedelta(minutes=42)
    )
    return late_id, calm_id, theirs.json()["ticket_id"]


@pytest.mark.timeout(240)
async def test_an_agent_works_a_ticket_by_keyboard_in_a_real_browser(infra: Settings, tmp_path: Path) -> None:
    port = free_port()
    async with running_intake(infra) as intake, served(intake.app, port), async_playwright() as p:
        base = f"http://127.0.0.1:{port}"
        agent = await create_agent(intake, name="Ola Nowak")
        late_id, calm_id, theirs = await seed(intake)
        macro = await intake.client.post(
            "/v1/macros", json={"name": "Sprawdzamy", "texts": MACRO}, headers=auth(KEY_A)
        )
        assert macro.status_code == 201, macro.text
        macro_id = macro.json()["id"]
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="pl-PL")
            page = await context.new_page()
            problems: list[str] = []
            # script errors and anything the CSP blocked (the refused requests below are expected)
            page.on(
                "console",
                lambda m: (
                    problems.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(str(e)))

            # sign in: the queue sends to the sign-in page, whose token field has the focus
            await page.goto(f"{base}/workspace/")
            assert page.url.startswith(f"{base}/workspace/sign-in")
            assert await page.get_attribute("html", "lang") == "pl"
            assert await page.evaluate("document.activeElement.id") == "token"
            await page.keyboard.type(agent["token"])
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/workspace/")
            cookies = {c["name"]: c for c in await context.cookies()}
            session = cookies["careloop_workspace"]
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Lax"
            assert session["path"] == "/workspace"
            assert session["secure"] is False  # plain HTTP on loopback
            assert await page.evaluate("document.cookie") == ""  # no script can read it

            # the queue: nearest deadline first, the late one marked in words, not by colour alone
            rows = page.locator("table.queue tbody tr")
            assert await rows.count() == 2
            first = await rows.nth(0).inner_text()
            assert "spóźnione o 5 min" in first
            assert "SLA przekroczone" in first
            assert "za 42 min" in await rows.nth(1).inner_text()
            assert theirs not in await page.content()
            await assert_readable(page, ["h1", "caption", ".due.late", ".badge.breach", "td a", "button"])
            await photograph(page, tmp_path, "queue")

            # keyboard only: skip link first, then on to the late ticket's "take it" button
            stops = await tab_to(page, "a.skip")
            assert len(stops) == 1
            await page.keyboard.press("Enter")
            await tab_to(page, f"button[formaction='/workspace/tickets/{late_id}/take']")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/workspace/tickets/{late_id}?done=assign")
            assert await page.locator("h1").inner_text() == "Gdzie jest paczka?"
            assert (
                await fetchval(intake, "SELECT assignee_agent_id FROM tickets WHERE id = $1", late_id)
                == (agent["id"])
            )

            # a macro into the reply box (a GET: the page again, the text filled in for Anna), then
            # a line of the agent's own, and sent, all from the keyboard
            await tab_to(page, "#macro")
            await tab_to(page, "form.macro-pick button")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/workspace/tickets/{late_id}?macro={macro_id}#reply-title")
            await tab_to(page, "#reply-body")
            assert await page.input_value("#reply-body") == "Dzień dobry Anna Kowalska, sprawdzamy paczkę."
            await page.keyboard.press("End")
            await page.keyboard.type(" Wyjechała dziś.")
            await tab_to(page, "form[action$='/reply'] button[type=submit]")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/workspace/tickets/{late_id}?done=reply")
            assert (
                await page.locator("p.notice[role=status]").inner_text()
                == "Odpowiedź jest w drodze do klienta."
            )
            reply = page.locator("li.kind-agent").last
            assert "sprawdzamy paczkę. Wyjechała dziś." in await reply.inner_text()
            assert "Odpowiedź" in await reply.locator(".kind").inner_text()

            # an internal note, also by keyboard: labelled as one, in its own style
            await tab_to(page, "#note-body")
            await page.keyboard.type("Sprawdzić magazyn <jutro>")
            await tab_to(page, "form[action$='/note'] button[type=submit]")
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{base}/workspace/tickets/{late_id}?done=note")
            note = page.locator("li.kind-note")
            assert await note.count() == 1
            assert "Notatka wewnętrzna" in await note.locator(".kind").inner_text()
            assert "Sprawdzić magazyn <jutro>" in await note.inner_text()  # text, never HTML
            styles = await page.evaluate(
                """() => [...document.querySelectorAll('li.kind-note, li.kind-customer')]
                     .map((li) => getComputedStyle(li).borderTopStyle)"""
            )
            assert styles[0] != styles[-1], "a note looks like any other message apart from its colour"
            await assert_readable(
                page, ["li.kind-note .kind", "li.kind-note .body", "li.kind-agent .body", ".facts dt"]
            )
            await photograph(page, tmp_path, "ticket")

            # another shop's ticket: not found
            other = await page.goto(f"{base}/workspace/tickets/{theirs}")
            assert other is not None
            assert other.status == 404
            assert "Shop B only" not in await page.content()

            # a form whose CSRF token was taken out is refused, and nothing happens
            await page.goto(f"{base}/workspace/tickets/{calm_id}")
            await page.evaluate("document.querySelector(\"form[action$='/note'] input[name=csrf]\").remove()")
            await page.fill("#note-body", "forged")
            await page.click("form[action$='/note'] button[type=submit]")
            await page.wait_for_load_state()
            assert await page.locator("h1").inner_text() == "Formularz wygasł"
            assert problems == [], problems  # no script error, nothing the CSP had to block
            # and so is another site's form posting to the workspace (a cross-site request forgery)
            await page.goto("about:blank")
            await page.set_content(
                f"""<form method="post" action="{base}/workspace/tickets/{calm_id}/reply">
                    <input name="body" value="forged"><button>go</button></form>"""
            )
            async with page.expect_navigation():
                await page.click("button")
            assert await page.locator("h1").inner_text() in ("Formularz wygasł", "This form has expired")
        finally:
            await browser.close()

        # what left CareLoop: the reply, once, as ticket.replied and on support.replies; never the note
        events = await ticket_events(intake, late_id, at_least=5)
        replied = [e.data for e in events if e.type == "ticket.replied"]
        assert [(r.text, r.author_name) for r in replied] == [(REPLY, "Ola Nowak")]
        sent = [decode_event(r.value).data.text for r in await read_topic(intake.settings, REPLIES.name)]
        assert sent == [REPLY]
        assert await fetchval(intake, "SELECT count(*) FROM messages WHERE body = 'forged'") == 0
