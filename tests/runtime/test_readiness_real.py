"""Readiness follows Postgres: a private, real PostgreSQL cluster is stopped and started under a service."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from runtime.settings import Settings
from tests.runtime.test_runtime_real import running_probe
from tests.support.net import free_port
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


class PrivatePostgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="careloop-pg-"))
        self.dir.chmod(0o755)  # the cluster runs as the 'postgres' user when we are root
        self.port = free_port()
        self.env = {**os.environ, "CARELOOP_LOCAL_DIR": str(self.dir), "CARELOOP_PG_PORT": str(self.port)}

    def ctl(self, action: str) -> None:
        subprocess.run(
            ["bash", str(REPO / "deploy/local/postgres.sh"), action], env=self.env, check=True, timeout=120
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.ctl("start")
    try:
        yield pg
    finally:
        pg.ctl("stop")
        shutil.rmtree(pg.dir, ignore_errors=True)


@pytest.fixture
async def settings_on_private_postgres(infra: Settings, private_postgres: PrivatePostgres) -> Settings:
    return infra.model_copy(update={"database_url": SecretStr(private_postgres.url)})


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
