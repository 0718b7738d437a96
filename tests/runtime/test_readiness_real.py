"""Readiness follows Postgres: a private, real PostgreSQL cluster is stopped and started under a service."""

from __future__ import annotations

import httpx
import pytest

from runtime.settings import Settings
from tests.runtime.test_runtime_real import running_probe
from tests.support.private_infra import PrivatePostgres
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


async def test_readiness_goes_red_when_postgres_stops_and_green_when_it_returns(
    settings_on_private_postgres: Settings, private_postgres: PrivatePostgres
) -> None:
    async with running_probe(settings_on_private_postgres) as app, http_client(app) as client:

        async def readiness() -> httpx.Response:
            return await client.get("/health/ready")

        assert (await readiness()).status_code == 200
        private_postgres.ctl("stop")

        async def red() -> bool:
            response = await readiness()
            return response.status_code == 503 and response.json()["checks"] == {
                "postgres": False,
                "kafka": True,
            }

        await eventually(red, timeout=30)
        assert (await client.get("/health/live")).status_code == 200  # alive, just not ready
        private_postgres.ctl("start")

        async def green() -> bool:
            return (await readiness()).status_code == 200

        await eventually(green, timeout=30)
