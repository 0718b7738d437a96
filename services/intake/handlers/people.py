"""A shop's agents and teams through the API: create, change, deactivate, issue a new token.

An agent's token is made here, shown once (returned to the route) and stored only as its SHA-256."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.db import Connection
from runtime.shops import hash_api_key

from ..context import Context
from ..domain.agents import AGENT_TOKEN_PREFIX, Agent, PeopleRefused, Policy, Role, Team
from ..repository import agents as repo
from .assignment import hand_out, release_tickets_of
from .writes import new_id


@dataclass(frozen=True)
class Issued:
    """An agent with the token just issued to them (the only time it is known in clear)."""

    agent: Agent
    token: str


def new_agent_token() -> str:
    return AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)


async def _check_teams(conn: Connection, shop_id: str, team_ids: Sequence[str]) -> None:
    missing = sorted(set(team_ids) - await repo.known_teams(conn, shop_id, team_ids))
    if missing:
        raise PeopleRefused("unknown_team", f"no such team in the shop: {', '.join(missing)}")


async def agent_or_refuse(conn: Connection, shop_id: str, agent_id: str) -> Agent:
    agent = await repo.find_agent(conn, shop_id, agent_id)
    if agent is None:
        raise PeopleRefused("not_found", f"agent {agent_id} not found")
    return agent


async def team_or_refuse(conn: Connection, shop_id: str, team_id: str) -> Team:
    team = await repo.find_team(conn, shop_id, team_id)
    if team is None:
        raise PeopleRefused("not_found", f"team {team_id} not found")
    return team


async def create_agent(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    *,
    name: str,
    role: Role,
    capacity: int,
    email: str | None = None,
    available: bool = True,
    team_ids: Sequence[str] = (),
) -> Issued:
    await _check_teams(conn, shop_id, team_ids)
    token = new_agent_token()
    agent = Agent(shop_id, new_id("agt"), name, role, capacity, available, email=email)
    await repo.insert_agent(conn, agent, hash_api_key(token), ctx.now())
    await repo.set_teams(conn, shop_id, agent.id, sorted(set(team_ids)))
    return Issued(await agent_or_refuse(conn, shop_id, agent.id), token)


async def change_agent(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    agent_id: str,
    changes: Mapping[str, Any],
    team_ids: Sequence[str] | None = None,
) -> Agent:
    """Change the given fields (and the teams, if given) of an active agent."""
    agent = await agent_or_refuse(conn, shop_id, agent_id)
    if not agent.active:
        raise PeopleRefused("deactivated", f"agent {agent_id} is deactivated")
    if changes:
        await repo.update_agent(conn, shop_id, agent_id, changes, ctx.now())
    if team_ids is not None:
        await _check_teams(conn, shop_id, team_ids)
        await repo.set_teams(conn, shop_id, agent_id, sorted(set(team_ids)))
    after = await agent_or_refuse(conn, shop_id, agent_id)
    if after.available and ({"available", "capacity"} & set(changes) or team_ids is not None):
        await hand_out(conn, ctx, shop_id, after.team_ids)  # they may have room for waiting tickets
    return after


async def rotate_token(conn: Connection, ctx: Context, shop_id: str, agent_id: str) -> Issued:
    """A new token for the agent; the old one stops working at once."""
    token = new_agent_token()
    if not await repo.replace_token(conn, shop_id, agent_id, hash_api_key(token), ctx.now()):
        raise PeopleRefused("not_found", f"no active agent {agent_id}")
    return Issued(await agent_or_refuse(conn, shop_id, agent_id), token)


async def deactivate_agent(conn: Connection, ctx: Context, shop_id: str, agent_id: str) -> Agent:
    """Their token stops working, they leave their teams and take no more tickets; their unfinished
    tickets go back to their teams' queues."""
    await agent_or_refuse(conn, shop_id, agent_id)
    await repo.deactivate_agent(conn, shop_id, agent_id, ctx.now())
    await release_tickets_of(conn, ctx, shop_id, agent_id)
    return await agent_or_refuse(conn, shop_id, agent_id)


async def create_team(
    conn: Connection,
    ctx: Context,
    shop_id: str,
    *,
    name: str,
    policy: Policy,
    auto_assign: bool,
    is_default: bool,
) -> Team:
    team = Team(shop_id, new_id("team"), name, policy, auto_assign, is_default)
    await repo.insert_team(conn, team, ctx.now())
    return await team_or_refuse(conn, shop_id, team.id)


async def change_team(
    conn: Connection, ctx: Context, shop_id: str, team_id: str, changes: Mapping[str, Any]
) -> Team:
    await team_or_refuse(conn, shop_id, team_id)
    if changes:
        await repo.update_team(conn, shop_id, team_id, changes, ctx.now())
    if changes.get("auto_assign") or "policy" in changes:
        await hand_out(conn, ctx, shop_id, [team_id])
    return await team_or_refuse(conn, shop_id, team_id)
