"""Property-based calls generated from the published OpenAPI document against the real service
(`python -m services.notify` on Kafka + Postgres): no input gets a 5xx, every answer matches the schema."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from tests.notify.harness import start_notify_process
from tests.support.net import free_port
from tests.support.shops import KEY_A, auth
from tests.support.stack import isolated_infra
from tools.openapi import document_path

pytestmark = pytest.mark.kafka

schema = schemathesis.openapi.from_dict(json.loads(document_path("notify").read_text()))


@pytest.fixture(scope="module")
async def notify_url(base_settings: Settings) -> AsyncIterator[str]:
    async with isolated_infra(base_settings) as infra:
        await ensure_service_schema(infra.for_service("notify"))
        port = free_port()
        with tempfile.TemporaryFile() as log_file:
            process = await start_notify_process(infra, port, log_file)
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                process.send_signal(signal.SIGTERM)
                await process.wait()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case[Any], notify_url: str) -> None:
    response = case.call(base_url=notify_url, headers=auth(KEY_A), timeout=10)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
