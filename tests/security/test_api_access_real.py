"""Authentication on every non-public route and tenant isolation across every route of every service.

Routes are read from each service's FastAPI app, so a route added later is covered without editing
this file (and a new route with a body fails here until it gets a sample body in routes.BODIES)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.settings import Settings
from tests.security.routes import BODIES, QUERIES, RAW_BODIES, Route, fill, routes_of
from tests.security.world import OWNED_PARAMS, World, running_world
from tests.support.shops import KEY_A, KEY_B, SHOP_B, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

BAD_CREDENTIALS: dict[str, dict[str, str]] = {
    "no Authorization header": {},
    "unknown key": auth("clk_not_a_key_of_any_shop_000000000000"),
    "empty bearer": {"Authorization": "Bearer "},
    "valid key, wrong scheme": {"Authorization": f"Basic {KEY_B}"},
    "key hash instead of key": auth("0" * 64),
}


def all_routes(world: World) -> list[Route]:
    return [r for name, app in world.apps.items() for r in routes_of(name, app)]


async def send(world: World, route: Route, key: str | None, **extra: Any) -> httpx.Response:
    values = {**world.b_ids, "receiver": world.receiver.url("").rstrip("/")}
    body = BODIES.get((route.method, route.path))
    client = world.clients[route.service]
    if body is None and route.method == "PUT" and not route.path_params:
        own = await client.get(route.path, headers=auth(key or KEY_A))
        body = own.json()
    headers = extra.pop("headers", auth(key) if key else {})
    params = {**QUERIES.get((route.method, route.path), {}), **extra.pop("params", {})}
    kwargs: dict[str, Any] = {"headers": headers, "params": params, **extra}
    raw = RAW_BODIES.get((route.method, route.path))
    if raw is not None:
        kwargs["content"] = fill(raw, values).encode()
    if route.has_body:
        assert body is not None, f"{route}: add a valid sample body to tests/security/routes.BODIES"
        kwargs["json"] = fill(body, values)
    missing = [p for p in route.path_params if p not in values]
    assert not missing, f"{route}: world.seed_shop_b must give shop B a value for {missing}"
    return await client.request(route.method, route.url(values), **kwargs)


async def snapshot_of_shop_b(world: World) -> dict[str, tuple[int, Any]]:
    """What shop B sees on every GET route: must be identical after shop A tried everything."""
    seen = {}
    for route in all_routes(world):
        if route.method == "GET" and not route.public:
            response = await send(world, route, KEY_B)
            seen[str(route)] = (response.status_code, response.json())
    return seen


async def test_every_non_public_route_refuses_a_missing_or_wrong_key(infra: Settings) -> None:
    async with running_world(infra) as world:
        routes = [r for r in all_routes(world) if not r.public]
        assert len(routes) >= 25, [str(r) for r in routes]  # all four services' APIs were found
        failures = []
        for route in routes:
            for what, headers in BAD_CREDENTIALS.items():
                response = await send(world, route, None, headers=headers)
                explained = "error" in response.text or "detail" in response.text
                if response.status_code != 401 or not explained:
                    failures.append(f"{route} with {what}: {response.status_code} {response.text[:200]}")
        assert not failures, "\n".join(failures)


async def test_shop_a_key_never_reads_or_changes_shop_b_data_on_any_route(infra: Settings) -> None:
    async with running_world(infra) as world:
        before = await snapshot_of_shop_b(world)
        assert before["intake GET /v1/tickets/{ticket_id}"][0] == 200
        assert before["notify GET /v1/deliveries/{delivery_id}"][0] == 200
        markers = world.b_markers()
        failures = []
        routes = [r for r in all_routes(world) if not r.public and not r.admin]
        for route in routes:
            response = await send(world, route, KEY_A)
            owned = OWNED_PARAMS & set(route.path_params)
            if owned and response.status_code not in (403, 404):
                failures.append(f"{route}: shop A reached shop B's {sorted(owned)}: {response.status_code}")
            if not owned and response.status_code not in (200, 201, 202, 204, 404):
                failures.append(
                    f"{route}: shop A on its own data: {response.status_code} {response.text[:200]}"
                )
            # A 404 may repeat the id the caller sent; anything else of shop B's is a leak.
            asked = str(response.request.url) + response.request.content.decode()
            leaked = [m for m in markers if m in response.text and m not in asked]
            if leaked:
                failures.append(f"{route}: response to shop A contains shop B's {leaked}")
            if route.shop_query and route.method == "GET":
                named = await send(world, route, KEY_A, params={route.shop_query: SHOP_B})
                if named.status_code not in (403, 404) or any(m in named.text for m in markers):
                    failures.append(f"{route}?{route.shop_query}={SHOP_B}: {named.status_code}")

        # The other direction of a merge: shop A's own ticket into shop B's.
        own = await world.clients["intake"].post(
            "/v1/contacts",
            json={"channel": "chat", "customer_handle": "a-customer", "body": "hello"},
            headers=auth(KEY_A),
        )
        assert own.status_code == 201, own.text
        merge = await world.clients["intake"].post(
            f"/v1/tickets/{own.json()['ticket_id']}/merge",
            json={"into_ticket_id": world.b_ids["ticket_id"]},
            headers=auth(KEY_A),
        )
        if merge.status_code not in (403, 404, 409, 422):
            failures.append(f"merge of shop A's ticket into shop B's: {merge.status_code} {merge.text[:200]}")
        # A contact of shop A that names shop B is refused, not filed under B.
        named_b = await world.clients["intake"].post(
            "/v1/contacts",
            json={"channel": "chat", "customer_handle": "x", "body": "hi", "shop_id": SHOP_B},
            headers=auth(KEY_A),
        )
        if named_b.status_code != 403:
            failures.append(f"contact with shop_id={SHOP_B} under shop A's key: {named_b.status_code}")

        assert not failures, "\n".join(failures)
        assert await snapshot_of_shop_b(world) == before


async def test_a_shop_key_never_reaches_the_operator_api(infra: Settings) -> None:
    async with running_world(infra) as world:
        routes = [r for r in all_routes(world) if r.admin]
        assert len(routes) >= 8, [str(r) for r in routes]
        failures = []
        for route in routes:
            for key in (KEY_A, KEY_B):
                response = await send(world, route, key)
                if response.status_code != 401:
                    failures.append(f"{route} with a shop key: {response.status_code} {response.text[:200]}")
        assert not failures, "\n".join(failures)
        shops = await world.clients["intake"].get("/v1/admin/shops", headers=auth(KEY_B))
        assert shops.json()["error"] == "unauthorized"
