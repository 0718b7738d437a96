"""Every route and dependency of every service's API is a coroutine function: FastAPI runs a plain
`def` one in a worker thread, a thread hop per request that showed up as a share of intake's CPU
and latency. And no app uses dependency overrides (a testing device, costly per request)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from runtime.settings import Settings
from services import SERVICE_NAMES
from tools.openapi import SHOPS


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router, kept as such by FastAPI
            yield from api_routes(route.original_router.routes)


def calls(dependant: Dependant) -> Iterator[object]:
    if dependant.call is not None:
        yield dependant.call
    for inner in dependant.dependencies:
        yield from calls(inner)


def awaited_in_the_event_loop(call: object) -> bool:
    # a callable instance (HTTPBearer) is awaited when its class's __call__ is a coroutine function
    return (
        inspect.iscoroutinefunction(call)
        or inspect.isasyncgenfunction(call)
        or inspect.iscoroutinefunction(type(call).__call__)
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_no_route_or_dependency_runs_in_a_worker_thread(service: str) -> None:
    settings = Settings().for_service(service).model_copy(update={"shops_file": SHOPS})
    api = importlib.import_module(f"services.{service}.bootstrap").build(settings).runtime.api
    routes = list(api_routes(getattr(api, "routes", [])))
    assert routes, f"{service} has an API with routes"
    sync = sorted(
        {
            f"{r.path}: {getattr(call, '__qualname__', call)}"
            for r in routes
            for call in calls(r.dependant)
            if not awaited_in_the_event_loop(call)
        }
    )
    assert sync == []
    # An override makes FastAPI rebuild every sub-dependency's signature on each request.
    assert getattr(api, "dependency_overrides", {}) == {}
