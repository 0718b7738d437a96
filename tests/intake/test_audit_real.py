"""The audit log: a record exists exactly when its action commits, reaches intake's log over Kafka,
is read per shop (a shop never sees another's) or across shops by the operator, and the table takes
no UPDATE, DELETE or TRUNCATE but the retention sweep's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from runtime.audit import ADMIN, Actor, AuditTrail, record_audit
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.v1.audit import ActorKind
from services.intake import bootstrap, sweeps
from services.intake.config import IntakeConfig
from services.intake.context import Context
from tests.support.batches import service_storage
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import http_client, running_service, service_connection
from tests.support.wait import eventually

ADMIN_TOKEN = "test-admin-token-0123456789"
KEY_ACTOR = Actor(ActorKind.KEY, "seed", agent="Ola")


@pytest.fixture
async def storage(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def insert(conn: Any, event_id: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO audit_log (event_id, shop_id, service, actor_kind, actor_id, action, target, at)
           VALUES ($1, 'shop-a', 'intake', 'key', 'seed', 'ticket.reply', 'ticket:t1', $2)""",
        event_id,
        at,
    )


async def test_the_log_takes_no_update_delete_or_truncate(storage: ServiceRuntime) -> None:
    now = datetime.now(UTC)
    async with storage.db.pool.acquire() as conn:
        await insert(conn, "e-old", now - timedelta(days=500))
        await insert(conn, "e-new", now - timedelta(days=1))
        refused = (
            "UPDATE audit_log SET actor_id = 'someone-else'",
            "DELETE FROM audit_log WHERE event_id = 'e-old'",
            "TRUNCATE audit_log",
        )
        for statement in refused:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
        # even inside a transaction that named a cutoff, a row newer than it stays
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('careloop.audit_purge_before', $1, true)",
                    (now - timedelta(days=400)).isoformat(),
                )
                await conn.execute("DELETE FROM audit_log WHERE event_id = 'e-new'")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 2
    ctx = Context(
        now=lambda: now, tickets_topic="t", shops=storage.shops, config=IntakeConfig(audit_purge_batch=1)
    )
    await sweeps.purge_audit_log(storage.db, ctx, now)
    async with storage.db.pool.acquire() as conn:
        assert [r["event_id"] for r in await conn.fetch("SELECT event_id FROM audit_log")] == ["e-new"]
        # the sweep's cutoff died with its transaction: deleting is refused again
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit_log")


async def audit_rows(settings: Settings) -> list[asyncpg.Record]:
    """The records the test made (intake's start records its seeding of the file's shops too)."""
    conn = await service_connection(settings, "intake")
    try:
        return await conn.fetch("SELECT * FROM audit_log WHERE action <> 'shop.seed' ORDER BY id")
    finally:
        await conn.close()


async def entries(client: httpx.AsyncClient, token: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit", headers=auth(token), params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entries"]
    return [e for e in found if e["action"] != "shop.seed"]


async def test_a_record_reaches_the_log_only_when_its_action_commits(infra: Settings) -> None:
    settings = infra.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    async with running_service(settings, "intake") as app:
        trail = AuditTrail.of(app.runtime.settings)
        db = app.runtime.db
        async with db.transaction() as conn:
            await record_audit(
                conn, trail, KEY_ACTOR, "ticket.reply", "ticket:t-a", shop_id=SHOP_A, source_ip="10.0.0.7"
            )
            await record_audit(conn, trail, ADMIN, "shop.suspend", f"shop:{SHOP_B}", shop_id=SHOP_B)
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await record_audit(conn, trail, KEY_ACTOR, "ticket.merge", "ticket:t-x", shop_id=SHOP_A)
                raise RuntimeError("the action fails: its record goes with it")

        async def both() -> list[asyncpg.Record]:
            rows = await audit_rows(settings)
            return rows if len(rows) >= 2 else []

        rows = await eventually(both)
        assert [(r["shop_id"], r["action"], r["actor_kind"], r["actor_id"]) for r in rows] == [
            (SHOP_A, "ticket.reply", "key", "seed"),
            (SHOP_B, "shop.suspend", "admin", "admin"),
        ]
        assert (rows[0]["agent"], rows[0]["source_ip"], rows[0]["service"]) == ("Ola", "10.0.0.7", "intake")

        async with http_client(app) as client:
            assert [e["target"] for e in await entries(client, KEY_A)] == ["ticket:t-a"]
            assert [e["target"] for e in await entries(client, KEY_B)] == [f"shop:{SHOP_B}"]
            foreign = await client.get("/v1/audit", headers=auth(KEY_A), params={"shop": SHOP_B})
            assert (foreign.status_code, foreign.json()["error"]) == (403, "shop_mismatch")
            everything = await entries(client, ADMIN_TOKEN)
            assert [e["action"] for e in everything] == ["shop.suspend", "ticket.reply"]  # newest first
            assert [e["action"] for e in await entries(client, ADMIN_TOKEN, shop=SHOP_A)] == ["ticket.reply"]
            assert await entries(client, ADMIN_TOKEN, action="ticket.merge") == []
            earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            assert await entries(client, KEY_A, to=earlier) == []
            csv = await client.get("/v1/audit", headers=auth(KEY_A), params={"format": "csv"})
            assert csv.text.splitlines()[0].startswith("at,shop_id,service,actor_kind")
            assert "ticket:t-a" in csv.text
            refused = await client.get("/v1/audit", headers=auth("not-the-admin-token"))
            assert refused.status_code == 401
