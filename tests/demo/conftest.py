"""Fixtures of the demo's real tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo.runs import REPO, infra_script, inherited_env


@pytest.fixture
def private_local_dir() -> Iterator[Path]:
    """A .local of its own for deploy/local/*.sh: its own Kafka and PostgreSQL, never the shared ones."""
    local = Path(tempfile.mkdtemp(prefix="careloop-local-"))
    local.chmod(0o755)  # as root the cluster runs as the 'postgres' user, which must reach it
    (local / "kafka").mkdir()
    # The jars are cached per local dir: share the checkout's instead of a Maven download.
    (local / "kafka" / "jars").symlink_to(REPO / ".local" / "kafka" / "jars")
    try:
        yield local
    finally:  # a failing test must not leave servers behind either
        infra_script(local, "kafka.sh", "stop", inherited_env())
        infra_script(local, "postgres.sh", "stop", inherited_env())
        shutil.rmtree(local, ignore_errors=True)
