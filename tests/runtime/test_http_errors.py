"""Every refusal of a service's API has one shape, `{"error": <code>, "detail": …}`: a route's own
(ApiError, with its code) and FastAPI's (a code from the status)."""

from __future__ import annotations

import httpx
from fastapi import HTTPException

from runtime.http_api import ApiError, make_api


async def test_a_route_refusal_and_a_framework_refusal_share_one_shape() -> None:
    api = make_api("probe", "probe", "errors")

    @api.get("/own")
    async def own() -> None:
        raise ApiError(409, "invalid_transition", "a closed ticket cannot be solved")

    @api.get("/bare")
    async def bare() -> None:
        raise HTTPException(422, "refused by a check")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t") as client:
        own_answer = await client.get("/own")
        bare_answer = await client.get("/bare")
        missing = await client.get("/nothing-here")

    assert (own_answer.status_code, own_answer.json()) == (
        409,
        {"error": "invalid_transition", "detail": "a closed ticket cannot be solved"},
    )
    assert (bare_answer.status_code, bare_answer.json()) == (
        422,
        {"error": "unprocessable", "detail": "refused by a check"},
    )
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}
