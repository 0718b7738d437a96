"""Who calls intake's API: a shop (its API key) or one of its agents (the agent's own token).

An agent's token (`cla_…`) authenticates like the shop's key, for the agent's shop only, and
carries the agent: a reply or a note made with it is theirs, `take` gives them the ticket. It is
looked up by its SHA-256 in intake's agents table (a deactivated agent's token no longer works);
any other bearer goes to the runtime's shop-key check unchanged. `build_api` makes this the app's
authentication (`agent_or_shop_key`, what the runtime's `api_shop` calls), so every intake route
takes either credential, and routes that care who the agent is ask for `CurrentCaller`. Not through
FastAPI's dependency overrides: with an override in place FastAPI rebuilds every sub-dependency's
signature on each request, a tenth of intake's CPU per contact in a profile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from runtime.db import Database
from runtime.http_api import REJECTED_REQUESTS, ApiError, api_shop
from runtime.shops import Shop, hash_api_key

from .context import Context
from .domain.agents import AGENT_TOKEN_PREFIX, Agent
from .repository import agents as repo

SERVICE = "intake"
_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Caller:
    shop: Shop
    agent: Agent | None = None
    """None when the shop's API key called."""

    @property
    def agent_id(self) -> str | None:
        return self.agent.id if self.agent is not None else None

    @property
    def agent_name(self) -> str | None:
        return self.agent.name if self.agent is not None else None


async def authenticate_agent(db: Database, ctx: Context, token: str) -> Caller | None:
    """The active agent holding `token` with their shop, or None. Also what the workspace's sign-in
    checks a token with."""
    if not token.startswith(AGENT_TOKEN_PREFIX):
        return None
    async with db.pool.acquire() as conn:
        agent = await repo.agent_by_token(conn, hash_api_key(token))
    shop = ctx.shops.get(agent.shop_id) if agent is not None else None
    if agent is None or shop is None:
        return None
    return Caller(shop, agent)


async def api_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The caller: an agent by their token, else the shop by its key (401 for neither)."""
    if credentials is not None and credentials.credentials.startswith(AGENT_TOKEN_PREFIX):
        caller = await authenticate_agent(
            request.app.state.db, request.app.state.context, credentials.credentials
        )
        if caller is None:
            REJECTED_REQUESTS.labels(SERVICE, "bad_agent_token").inc()
            raise ApiError(401, "unauthorized", "unknown or deactivated agent token")
        if caller.shop.suspended:  # as the runtime answers the shop's keys
            REJECTED_REQUESTS.labels(SERVICE, "shop_suspended").inc()
            raise ApiError(403, "shop_suspended", "the shop is suspended: its keys are refused until resumed")
        return caller
    return Caller(await api_shop(request, credentials))


CurrentCaller = Annotated[Caller, Depends(api_caller)]


ShopAuthentication = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Shop]]


def agent_or_shop_key(shop_key: ShopAuthentication) -> ShopAuthentication:
    """The app's authentication: an agent token's shop, else what `shop_key` (the runtime's) says."""

    async def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Shop:
        if credentials is not None and credentials.credentials.startswith(AGENT_TOKEN_PREFIX):
            return (await api_caller(request, credentials)).shop
        return await shop_key(request, credentials)

    return authenticate


async def assignee_query(
    caller: CurrentCaller,
    assignee: Annotated[
        str | None,
        Query(
            max_length=64, description="me (the calling agent), none (the unassigned queue) or an agent id"
        ),
    ] = None,
) -> dict[str, Any]:
    """The listing's assignee filter (repository/tickets.TicketFilter's fields)."""
    if assignee is None:
        return {}
    if assignee == "none":
        return {"unassigned": True}
    if assignee == "me":
        if caller.agent is None:
            REJECTED_REQUESTS.labels(SERVICE, "not_an_agent").inc()
            raise ApiError(422, "not_an_agent", "assignee=me needs an agent's token")
        return {"assignee": caller.agent.id}
    return {"assignee": assignee}


AssigneeFilter = Annotated[dict[str, Any], Depends(assignee_query)]
