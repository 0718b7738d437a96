"""What the privacy story needs besides the services: the services' own logging at DEBUG, collected
for the scan, and a shop's privacy requests asked and followed over intake's API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runtime.logs import configure_logging
from tests.privacy.world import Person, World
from tests.support.shops import auth
from tests.support.wait import eventually

TEST_SERVERS = ("mail.log",)
"""Loggers of the test's own servers (aiosmtpd, the shops' SMTP relay here), not CareLoop's."""


class Collected(logging.Handler):
    """Every record of every logger but the test servers', as it would be written (with traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(TEST_SERVERS):
            return
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.levelname} {record.name}: {text}")


@contextmanager
def logging_as_services_do(collected: Collected) -> Iterator[None]:
    """The services' own logging set-up (runtime/logs.py) at DEBUG, written to `collected` through the
    same filters; the test run's handlers and levels are back afterwards."""
    root = logging.getLogger()
    loggers = [
        root,
        *(logging.getLogger(name) for name in ("faststream", "aiokafka", "kafka", "uvicorn.access", "httpx")),
    ]
    saved = [(logger, logger.level) for logger in loggers]
    handlers = root.handlers[:]
    configure_logging("privacy-test", "DEBUG")
    (stderr,) = root.handlers
    for found in stderr.filters:
        collected.addFilter(found)
    root.handlers[:] = [collected]
    try:
        yield
    finally:
        root.handlers[:] = handlers
        for logger, level in saved:
            logger.setLevel(level)


async def ask(world: World, person: Person, kind: str) -> str:
    response = await world.clients["intake"].post(
        f"/v1/customers/{person.customer_id}/{kind}", headers=auth(person.key)
    )
    assert response.status_code == 202, response.text
    request_id: str = response.json()["request_id"]
    return request_id


async def request_view(world: World, person: Person, request_id: str) -> dict[str, Any]:
    response = await world.clients["intake"].get(
        f"/v1/privacy/requests/{request_id}", headers=auth(person.key)
    )
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def complete(world: World, person: Person, request_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        view = await request_view(world, person, request_id)
        return view if view["status"] == "complete" else None

    found = await eventually(done, timeout=90, interval=0.2)
    assert found is not None
    return found


async def audited(world: World, request_ids: list[str]) -> list[tuple[str, str, str]]:
    """The audit records of the requests, in the log intake keeps (action, target, actor kind)."""
    targets = [f"privacy_request:{r}" for r in request_ids]

    async def recorded() -> list[tuple[str, str, str]] | None:
        rows = await world.db("intake").fetch(
            "SELECT action, target, actor_kind FROM audit_log WHERE target = ANY($1::text[]) ORDER BY id",
            targets,
        )
        return [tuple(r) for r in rows] if len(rows) == len(targets) else None

    found = await eventually(recorded, timeout=60, interval=0.2)
    assert found is not None
    return found
