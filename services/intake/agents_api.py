"""A shop's agents and teams (`/v1/agents`, `/v1/teams`; docs/intake.md "Agents and teams").

The shop's API key or an admin agent's token manages them; any agent reads them, and changes their
own availability. An agent's token is in the answer of its creation and of its rotation only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from runtime.db import Connection, Database
from runtime.http_api import Db, api_context
from runtime.metrics import counted_on_commit
from schemas.v1.common import Email, PlainText

from . import agent_report_api, assignment_api, macros_api, messages_api
from .api_models import Problem, refused
from .auth import Caller, CurrentCaller, agent_or_shop_key
from .context import Context
from .domain.agents import Agent, NotAllowed, PeopleRefused, Policy, Role, Team, require_manager
from .handlers import people
from .repository import agents as repo

ContextDep = Annotated[Context, Depends(api_context)]
MAX_TEAMS = 50

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or unknown API key or agent token"},
    403: {"model": Problem, "description": "an agent's role does not allow this"},
    404: {"model": Problem, "description": "no such agent or team in the caller's shop"},
    409: {"model": Problem, "description": "a name or e-mail the shop already uses; a deactivated agent"},
    422: {"model": Problem, "description": "invalid body or parameters; a team the shop does not have"},
}
STATUS_OF = {"not_found": 404, "deactivated": 409, "duplicate": 409, "unknown_team": 422}

router = APIRouter(tags=["agents"])


@contextmanager
def people_refusals() -> Iterator[None]:
    try:
        yield
    except PeopleRefused as exc:
        raise refused(STATUS_OF.get(exc.code, 409), exc.code, exc.detail) from None
    except NotAllowed as exc:
        raise refused(403, "forbidden", str(exc)) from None
    except asyncpg.UniqueViolationError:
        raise refused(
            409, "duplicate", "the shop already has an agent or team of that name or e-mail"
        ) from None


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Connection]:
    with people_refusals(), counted_on_commit():
        async with db.transaction() as conn:
            yield conn


# -- bodies ----------------------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
TeamIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_TEAMS)]


class AgentIn(PlainText):
    model_config = ConfigDict(extra="forbid")

    name: Name
    email: Email | None = None
    role: Role = Role.AGENT
    capacity: int = Field(default=10, ge=0, le=1000)
    """How many unfinished tickets automatic assignment gives the agent at most."""
    available: bool = True
    team_ids: TeamIds = Field(default_factory=list)


class AgentPatch(PlainText):
    """The fields to change; `team_ids` replaces the agent's teams. An agent (not an admin) may
    change only their own `available`."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email | None = None
    role: Role | None = None
    capacity: int | None = Field(default=None, ge=0, le=1000)
    available: bool | None = None
    team_ids: TeamIds | None = None


class AgentView(BaseModel):
    id: str
    name: str
    email: str | None
    role: Role
    capacity: int
    available: bool
    active: bool
    team_ids: list[str]
    created_at: datetime | None
    updated_at: datetime | None


class AgentWithToken(AgentView):
    token: str = Field(description="the agent's API token: shown now only, stored as its SHA-256")


class AgentList(BaseModel):
    agents: list[AgentView]


class TeamIn(PlainText):
    model_config = ConfigDict(extra="forbid")

    name: Name
    policy: Policy = Policy.ROUND_ROBIN
    auto_assign: bool = False
    """New tickets of the team go to one of its available agents by `policy`."""
    is_default: bool = False
    """A new ticket no rule gives a team joins this one (one default team per shop)."""


class TeamPatch(PlainText):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    policy: Policy | None = None
    auto_assign: bool | None = None
    is_default: bool | None = None


class TeamView(BaseModel):
    id: str
    name: str
    policy: Policy
    auto_assign: bool
    is_default: bool
    agent_ids: list[str] = Field(description="its active agents")
    created_at: datetime | None
    updated_at: datetime | None


class TeamList(BaseModel):
    teams: list[TeamView]


def agent_view(agent: Agent) -> AgentView:
    return AgentView(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        role=agent.role,
        capacity=agent.capacity,
        available=agent.available,
        active=agent.active,
        team_ids=list(agent.team_ids),
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def with_token(issued: people.Issued) -> AgentWithToken:
    return AgentWithToken(**agent_view(issued.agent).model_dump(), token=issued.token)


def team_view(team: Team, members: dict[str, list[str]]) -> TeamView:
    return TeamView(
        id=team.id,
        name=team.name,
        policy=team.policy,
        auto_assign=team.auto_assign,
        is_default=team.is_default,
        agent_ids=members.get(team.id, []),
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


async def one_team_view(conn: Connection, team: Team) -> TeamView:
    return team_view(team, await repo.members_of(conn, team.shop_id, [team.id]))


def changes_of(body: BaseModel) -> dict[str, Any]:
    """The fields the body sets; a null clears only the e-mail (the others cannot be empty)."""
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "email"}


def _may_patch(caller: Caller, agent_id: str, changes: dict[str, Any]) -> None:
    """An admin (or the shop's key) changes anything; an agent only their own availability."""
    if caller.agent is None or caller.agent.manages_people:
        return
    if caller.agent.id != agent_id or set(changes) - {"available"}:
        raise NotAllowed("an agent changes only their own availability")


# -- agents ----------------------------------------------------------------------------------------


@router.post("/v1/agents", response_model=AgentWithToken, status_code=201, responses=ERRORS)
async def create_agent(body: AgentIn, caller: CurrentCaller, db: Db, ctx: ContextDep) -> AgentWithToken:
    """A new agent of the shop, with their API token (in this answer only)."""
    async with unit_of_work(db) as conn:
        require_manager(caller.agent)
        issued = await people.create_agent(
            conn,
            ctx,
            caller.shop.id,
            name=body.name,
            role=body.role,
            capacity=body.capacity,
            email=body.email,
            available=body.available,
            team_ids=body.team_ids,
        )
    return with_token(issued)


@router.get("/v1/agents", response_model=AgentList, responses=ERRORS)
async def list_agents(
    caller: CurrentCaller,
    db: Db,
    inactive: Annotated[bool, Query(description="deactivated ones too")] = False,
) -> AgentList:
    async with db.pool.acquire() as conn:
        agents = await repo.list_agents(conn, caller.shop.id, inactive=inactive)
    return AgentList(agents=[agent_view(a) for a in agents])


@router.get("/v1/agents/me", response_model=AgentView, responses=ERRORS)
async def whoami(caller: CurrentCaller) -> AgentView:
    """The agent whose token called (404 for the shop's key)."""
    if caller.agent is None:
        raise refused(404, "not_an_agent", "the shop's API key is no agent: call with an agent token")
    return agent_view(caller.agent)


@router.get("/v1/agents/{agent_id}", response_model=AgentView, responses=ERRORS)
async def get_agent(agent_id: str, caller: CurrentCaller, db: Db) -> AgentView:
    with people_refusals():
        async with db.pool.acquire() as conn:
            return agent_view(await people.agent_or_refuse(conn, caller.shop.id, agent_id))


@router.patch("/v1/agents/{agent_id}", response_model=AgentView, responses=ERRORS)
async def patch_agent(
    agent_id: str, body: AgentPatch, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> AgentView:
    changes = changes_of(body)
    team_ids = changes.pop("team_ids", None)
    async with unit_of_work(db) as conn:
        await people.agent_or_refuse(conn, caller.shop.id, agent_id)
        _may_patch(caller, agent_id, {**changes, **({"team_ids": team_ids} if team_ids is not None else {})})
        agent = await people.change_agent(conn, ctx, caller.shop.id, agent_id, changes, team_ids)
    return agent_view(agent)


@router.delete("/v1/agents/{agent_id}", response_model=AgentView, responses=ERRORS)
async def deactivate_agent(agent_id: str, caller: CurrentCaller, db: Db, ctx: ContextDep) -> AgentView:
    """Deactivate: the token stops working, the agent leaves their teams and gets no tickets (the
    agent stays, so their messages still name them)."""
    async with unit_of_work(db) as conn:
        await people.agent_or_refuse(conn, caller.shop.id, agent_id)
        require_manager(caller.agent)
        agent = await people.deactivate_agent(conn, ctx, caller.shop.id, agent_id)
    return agent_view(agent)


@router.post("/v1/agents/{agent_id}/token", response_model=AgentWithToken, responses=ERRORS)
async def rotate_token(agent_id: str, caller: CurrentCaller, db: Db, ctx: ContextDep) -> AgentWithToken:
    """A new token for the agent (in this answer only); the old one stops working at once."""
    async with unit_of_work(db) as conn:
        await people.agent_or_refuse(conn, caller.shop.id, agent_id)
        require_manager(caller.agent)
        issued = await people.rotate_token(conn, ctx, caller.shop.id, agent_id)
    return with_token(issued)


# -- teams -----------------------------------------------------------------------------------------


@router.post("/v1/teams", response_model=TeamView, status_code=201, responses=ERRORS)
async def create_team(body: TeamIn, caller: CurrentCaller, db: Db, ctx: ContextDep) -> TeamView:
    async with unit_of_work(db) as conn:
        require_manager(caller.agent)
        team = await people.create_team(
            conn,
            ctx,
            caller.shop.id,
            name=body.name,
            policy=body.policy,
            auto_assign=body.auto_assign,
            is_default=body.is_default,
        )
        return await one_team_view(conn, team)


@router.get("/v1/teams", response_model=TeamList, responses=ERRORS)
async def list_teams(caller: CurrentCaller, db: Db) -> TeamList:
    async with db.pool.acquire() as conn:
        teams = await repo.list_teams(conn, caller.shop.id)
        members = await repo.members_of(conn, caller.shop.id, [t.id for t in teams])
    return TeamList(teams=[team_view(t, members) for t in teams])


@router.get("/v1/teams/{team_id}", response_model=TeamView, responses=ERRORS)
async def get_team(team_id: str, caller: CurrentCaller, db: Db) -> TeamView:
    with people_refusals():
        async with db.pool.acquire() as conn:
            return await one_team_view(conn, await people.team_or_refuse(conn, caller.shop.id, team_id))


@router.patch("/v1/teams/{team_id}", response_model=TeamView, responses=ERRORS)
async def patch_team(
    team_id: str, body: TeamPatch, caller: CurrentCaller, db: Db, ctx: ContextDep
) -> TeamView:
    async with unit_of_work(db) as conn:
        await people.team_or_refuse(conn, caller.shop.id, team_id)
        require_manager(caller.agent)
        team = await people.change_team(conn, ctx, caller.shop.id, team_id, changes_of(body))
        return await one_team_view(conn, team)


def install_people(api: FastAPI) -> None:
    """Agent tokens on every route of intake's app (auth.py), and the routes of people and routing:
    agents and teams (this module), assignment and tags, macros, the agent report."""
    api.state.authenticate = agent_or_shop_key(api.state.authenticate)
    for routes in (
        router,
        messages_api.router,
        assignment_api.router,
        macros_api.router,
        agent_report_api.router,
    ):
        api.include_router(routes)
