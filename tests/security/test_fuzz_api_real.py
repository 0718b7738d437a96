"""Fuzzing each service's public HTTP surface from its own OpenAPI document with schemathesis,
in-process through the ASGI app (schemathesis runs the app's lifespan in its own event loop
thread), with valid and invalid data: no input ever gets a 5xx."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.python import asgi as schemathesis_asgi

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from tests.support.shops import KEY_A, auth

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

EXAMPLES_PER_OPERATION = 15

# A raw e-mail (POST /v1/inbound/email) is bytes on the wire, as any binary body.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")


class ServerError(Exception):
    pass


def fuzz(schema: Any, key: str) -> list[str]:
    """Every operation with valid and invalid data; the first server error of each, if any."""
    errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: a failure here is reproducible
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as found
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                try:
                    response = case.call(headers=auth(key))
                except Exception as exc:  # the in-process client re-raises the app's unhandled error
                    raise ServerError(f"{type(exc).__name__}: {str(exc)[:300]}") from None
                if response.status_code >= 500:
                    raise ServerError(f"{response.status_code}: {response.text[:300]}")

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid request can be built for this operation (nothing to violate)
            except ServerError as exc:
                errors.append(f"{operation.label} ({mode.value}): {exc}")
    return errors


@pytest.mark.parametrize("service", ["intake", "sla", "notify", "survey"])
async def test_no_generated_request_gets_a_server_error(infra: Settings, service: str) -> None:
    service_settings = infra.for_service(service)
    await ensure_service_schema(service_settings)
    app = importlib.import_module(f"services.{service}.bootstrap").build(service_settings)
    try:
        schema = await asyncio.to_thread(schemathesis.openapi.from_asgi, "/v1/openapi.json", app)
        operations = list(schema.get_all_operations())
        assert operations, f"{service} publishes no operations"
        errors = await asyncio.to_thread(fuzz, schema, KEY_A)
    finally:
        await asyncio.to_thread(schemathesis_asgi.shutdown_lifespans)
    assert not errors, "\n".join(errors)
