"""Screenshots of the workspace from a running stack (`make run`), for the README and docs/workspace.md.

    .venv/bin/python -m tools.workspace_shots --intake http://127.0.0.1:8001 --out docs/img

Against a stack whose demo shop has been running for a few minutes: signs an agent in with headless
Chromium (Debian's, never a downloaded one) — the one whose token the summary prints (`--token`), or
else a new agent of the demo shop made with its local key — and photographs their queue, then their
ticket with the longest conversation about an order, at 1280x800, as docs/img/workspace-queue.png and
workspace-ticket.png."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

DEMO_KEY = "clk_demo_shop_local_key_do_not_use_in_production"  # deploy/local/shops.json, local only
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WIDTH, HEIGHT = 1280, 800
TAKEN = 4
NOTE = "Sprawdzam u przewoźnika, odpiszę klientce jeszcze dziś."


async def new_agent(intake: str, key: str, name: str) -> str:
    """An agent of the key's shop; their token."""
    async with httpx.AsyncClient(base_url=intake, timeout=10.0) as client:
        response = await client.post(
            "/v1/agents", json={"name": name}, headers={"Authorization": f"Bearer {key}"}
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token


async def busiest_tickets(intake: str, key: str, count: int) -> list[str]:
    """The shop's unfinished tickets about an order with the most messages people wrote (conversations
    worth showing), the busiest first."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=intake, timeout=10.0) as client:
        listed = await client.get("/v1/tickets", params={"sort": "due", "limit": 200}, headers=headers)
        listed.raise_for_status()
        sizes: list[tuple[int, str]] = []
        for ticket in [t for t in listed.json()["tickets"] if t["order"]][:60]:
            detail = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
            written = sum(1 for m in detail["messages"] if m["author"] != "system")
            sizes.append((written, ticket["id"]))
    if not sizes:
        raise SystemExit("no unfinished ticket about an order yet: let the demo run a little longer")
    return [ticket_id for _, ticket_id in sorted(sizes, reverse=True)[:count]]


async def shoot(page: Page, path: Path) -> None:
    await page.evaluate("document.activeElement.blur()")
    await page.screenshot(path=str(path))
    print(f"wrote {path}")


async def main(intake: str, key: str, token: str | None, out: Path, lang: str) -> None:
    """As a newcomer would: sign in, take the busiest tickets, leave a note on the first, then the
    pictures of the queue and of that ticket."""
    token = token or await new_agent(intake, key, "Ola Nowak")
    busiest = await busiest_tickets(intake, key, TAKEN)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, locale=lang)
            await page.goto(f"{intake}/workspace/sign-in?lang={lang[:2]}")
            await page.fill("#token", token)
            await page.press("#token", "Enter")
            await page.wait_for_url(f"{intake}/workspace/")
            for ticket_id in busiest:
                await page.goto(f"{intake}/workspace/tickets/{ticket_id}")
                take = page.locator(f"form[action='/workspace/tickets/{ticket_id}/take'] button")
                if await take.count():
                    await take.click()
                    await page.wait_for_load_state()
            await page.goto(f"{intake}/workspace/tickets/{busiest[0]}")
            await page.fill("#note-body", NOTE)
            await page.click("form[action$='/note'] button[type=submit]")
            await page.wait_for_load_state()
            await page.goto(f"{intake}/workspace/")
            await shoot(page, out / "workspace-queue.png")
            await page.goto(f"{intake}/workspace/tickets/{busiest[0]}")
            await shoot(page, out / "workspace-ticket.png")
        finally:
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--key", default=DEMO_KEY)
    parser.add_argument("--token", help="an agent's token (the demo summary's); else a new agent's")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--lang", default="pl-PL")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.intake, args.key, args.token, args.out, args.lang))
