"""Who did what, end to end: the operator's shop and key changes, a shop key's replies, status
changes and merges on intake, its endpoint change and replay on notify, each land in intake's audit
log with the actor (admin, the key's id, the agent's name), the target, the time and the source
address (a template and a platform secret too); a shop reads only its own records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from runtime.settings import Settings
from tests.faults.inprocess import running_services
from tests.support.shops import KEY_B, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

ADMIN = "test-admin-token-0123456789"
SHOP = "shop-audited"


@asynccontextmanager
async def clients(infra: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    settings = infra.model_copy(update={"admin_token": SecretStr(ADMIN)})
    async with AsyncExitStack() as exits:
        apps = await exits.enter_async_context(running_services(settings, ("intake", "notify")))
        yield {name: await exits.enter_async_context(http_client(app)) for name, app in apps.items()}


async def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def test_every_admin_key_and_agent_action_is_in_the_audit_log(infra: Settings) -> None:
    async with clients(infra) as c:
        intake, notify, admin = c["intake"], c["notify"], auth(ADMIN)
        await ok(await intake.post("/v1/admin/shops", json={"id": SHOP, "name": "Audited"}, headers=admin))
        issued = await ok(
            await intake.post(f"/v1/admin/shops/{SHOP}/keys", json={"name": "desk"}, headers=admin)
        )
        key, key_id = auth(issued["key"]), issued["key_id"]
        await ok(await intake.patch(f"/v1/admin/shops/{SHOP}", json={"locale": "de"}, headers=admin))

        async def ticket(handle: str) -> str:
            async def opened() -> str:
                response = await intake.post(
                    "/v1/contacts",
                    json={"channel": "chat", "customer_handle": handle, "body": "hi"},
                    headers=key,
                )
                return str(response.json()["ticket_id"]) if response.status_code == 201 else ""

            return await eventually(opened, timeout=15.0)  # the new key reaches intake's registry

        first, second = await ticket("anna"), await ticket("ben")
        body = {"body": "We are on it.", "author_name": "Ola"}
        await ok(await intake.post(f"/v1/tickets/{first}/replies", json=body, headers=key))
        await ok(await intake.post(f"/v1/tickets/{first}/status", json={"status": "pending"}, headers=key))
        await ok(
            await intake.post(f"/v1/tickets/{second}/merge", json={"into_ticket_id": first}, headers=key)
        )

        async def endpoint() -> Any:
            response = await notify.post(
                "/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=key
            )
            return response.json() if response.status_code == 201 else None

        created = await eventually(endpoint, timeout=15.0)
        since = {"since": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
        await ok(await notify.post(f"/v1/endpoints/{created['id']}/replay-failed", json=since, headers=key))
        template = {"subject": "Shipped", "text": "It is on its way."}
        await ok(await notify.put("/v1/templates/order.shipped/en", json=template, headers=key))
        secret = {"platform": "shopify", "secret": "shpss_audited_0123456789"}
        added = await ok(await intake.post("/v1/platforms/secrets", json=secret, headers=key))
        await ok(await intake.delete(f"/v1/admin/shops/{SHOP}/keys/{key_id}", headers=admin))

        wanted = {
            ("shop.create", "admin", "admin", f"shop:{SHOP}", "intake"),
            ("key.issue", "admin", "admin", f"key:{key_id}", "intake"),
            ("shop.update", "admin", "admin", f"shop:{SHOP}", "intake"),
            ("ticket.reply", "key", key_id, f"ticket:{first}", "intake"),
            ("ticket.pending", "key", key_id, f"ticket:{first}", "intake"),
            ("ticket.merge", "key", key_id, f"ticket:{second}", "intake"),
            ("endpoint.create", "key", key_id, f"endpoint:{created['id']}", "notify"),
            ("endpoint.replay_failed", "key", key_id, f"endpoint:{created['id']}", "notify"),
            ("template.update", "key", key_id, "template:order.shipped/en", "notify"),
            ("platform_secret.add", "key", key_id, f"platform_secret:{added['id']}", "intake"),
            ("key.revoke", "admin", "admin", f"key:{key_id}", "intake"),
        }

        async def logged() -> list[dict[str, Any]]:
            page = await intake.get("/v1/audit", params={"shop": SHOP}, headers=admin)
            entries: list[dict[str, Any]] = page.json()["entries"]
            seen = {(e["action"], e["actor_kind"], e["actor_id"], e["target"], e["service"]) for e in entries}
            return entries if wanted <= seen else []

        entries = await eventually(logged, timeout=20.0)
        assert len(entries) == len(wanted)
        assert {e["shop_id"] for e in entries} == {SHOP}
        assert {e["source_ip"] for e in entries} == {"127.0.0.1"}
        agents = {e["action"]: e["agent"] for e in entries}
        assert (agents["ticket.reply"], agents["ticket.pending"]) == ("Ola", None)
        times = [datetime.fromisoformat(e["at"]) for e in entries]
        assert times == sorted(times, reverse=True)  # newest first
        assert all(abs(datetime.now(UTC) - t) < timedelta(minutes=5) for t in times)

        # another shop sees none of it, and the revoked key reads nothing any more
        others = (await intake.get("/v1/audit", headers=auth(KEY_B))).json()["entries"]
        assert all(e["shop_id"] != SHOP for e in others)
        assert (await intake.get("/v1/audit", headers=key)).status_code == 401
