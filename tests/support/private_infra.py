"""A private Kafka broker and a private PostgreSQL cluster that one test may stop and start without
touching the shared ones everybody else uses."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from runtime.provision import ensure_topics
from runtime.settings import Settings
from tests.support.net import free_port

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


class PrivateKafka:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="careloop-kafka-"))
        (self.dir / "kafka").mkdir()
        # The jars are cached per local dir: share the checkout's instead of a Maven download.
        (self.dir / "kafka" / "jars").symlink_to(REPO / ".local" / "kafka" / "jars")
        self.port = free_port()
        self.env = {
            **os.environ,
            "CARELOOP_LOCAL_DIR": str(self.dir),
            "CARELOOP_KAFKA_PORT": str(self.port),
            "CARELOOP_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CARELOOP_KAFKA_HEAP": "-Xms128m -Xmx384m",
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ctl(self, action: str) -> None:
        subprocess.run(
            ["bash", str(REPO / "deploy/local/kafka.sh"), action],
            env=self.env,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def private_kafka() -> Iterator[PrivateKafka]:
    kafka = PrivateKafka()
    try:  # a start that timed out may have left the JVM running: stop it either way
        kafka.ctl("start")
        yield kafka
    finally:
        kafka.ctl("stop")
        shutil.rmtree(kafka.dir, ignore_errors=True)


@pytest.fixture
async def settings_on_private_kafka(infra: Settings, private_kafka: PrivateKafka) -> Settings:
    settings = infra.model_copy(update={"kafka_bootstrap_servers": private_kafka.bootstrap})
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    return settings


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:  # a start that timed out may have left the postmaster running: stop it either way
        pg.ctl("start")
        yield pg
    finally:
        pg.ctl("stop")
        shutil.rmtree(pg.dir, ignore_errors=True)


@pytest.fixture
def settings_on_private_postgres(infra: Settings, private_postgres: PrivatePostgres) -> Settings:
    return infra.model_copy(update={"database_url": SecretStr(private_postgres.url)})
