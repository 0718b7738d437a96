"""A shop's agents and teams, and who is in which team. Every query names the shop, except the
lookup of an agent by their token's hash (the token is what tells the shop)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from runtime.db import Connection

from ..domain.agents import Agent, Policy, Role, Team

_AGENT = """SELECT a.*, array(SELECT m.team_id FROM team_members m
                             WHERE m.shop_id = a.shop_id AND m.agent_id = a.id
                             ORDER BY m.team_id) AS team_ids
            FROM agents a"""
_TEAM = "SELECT * FROM teams WHERE shop_id = $1 AND id = $2"
_TEAM_LOCKED = _TEAM + " FOR UPDATE SKIP LOCKED"
AGENT_FIELDS = frozenset({"name", "email", "role", "available", "capacity"})
TEAM_FIELDS = frozenset({"name", "policy", "auto_assign", "is_default"})


def agent_of(row: asyncpg.Record) -> Agent:
    return Agent(
        shop_id=row["shop_id"],
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        capacity=row["capacity"],
        available=row["available"],
        active=row["active"],
        email=row["email"],
        team_ids=tuple(row["team_ids"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def team_of(row: asyncpg.Record) -> Team:
    return Team(
        shop_id=row["shop_id"],
        id=row["id"],
        name=row["name"],
        policy=Policy(row["policy"]),
        auto_assign=row["auto_assign"],
        is_default=row["is_default"],
        last_agent_id=row["last_agent_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _sql_value(value: Any) -> Any:
    return value.value if isinstance(value, Role | Policy) else value


# -- agents ----------------------------------------------------------------------------------------


async def insert_agent(conn: Connection, agent: Agent, token_sha256: str, now: datetime) -> None:
    await conn.execute(
        """INSERT INTO agents (shop_id, id, name, email, role, available, capacity, token_sha256,
                               token_issued_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)""",
        agent.shop_id,
        agent.id,
        agent.name,
        agent.email,
        agent.role.value,
        agent.available,
        agent.capacity,
        token_sha256,
        now,
    )


async def find_agent(conn: Connection, shop_id: str, agent_id: str) -> Agent | None:
    row = await conn.fetchrow(f"{_AGENT} WHERE a.shop_id = $1 AND a.id = $2", shop_id, agent_id)
    return agent_of(row) if row is not None else None


async def agent_by_token(conn: Connection, token_sha256: str) -> Agent | None:
    """The active agent holding the token of this hash (None for an unknown or deactivated one)."""
    row = await conn.fetchrow(f"{_AGENT} WHERE a.token_sha256 = $1 AND a.active", token_sha256)
    return agent_of(row) if row is not None else None


async def list_agents(conn: Connection, shop_id: str, *, inactive: bool = False) -> list[Agent]:
    rows = await conn.fetch(
        f"{_AGENT} WHERE a.shop_id = $1 AND (a.active OR $2) ORDER BY a.name, a.id",
        shop_id,
        inactive,
    )
    return [agent_of(r) for r in rows]


async def agents_by_id(conn: Connection, shop_id: str, agent_ids: Sequence[str]) -> dict[str, Agent]:
    rows = await conn.fetch(f"{_AGENT} WHERE a.shop_id = $1 AND a.id = ANY($2)", shop_id, list(agent_ids))
    return {r["id"]: agent_of(r) for r in rows}


async def update_agent(
    conn: Connection, shop_id: str, agent_id: str, changes: Mapping[str, Any], now: datetime
) -> bool:
    unknown = set(changes) - AGENT_FIELDS
    if unknown:  # names become SQL: only the agent's own columns
        raise ValueError(f"not a changeable agent field: {sorted(unknown)}")
    values = [_sql_value(v) for v in changes.values()]
    sets = "".join(f"{name} = ${n}, " for n, name in enumerate(changes, start=4))
    found = await conn.fetchval(
        f"UPDATE agents SET {sets}updated_at = $3 WHERE shop_id = $1 AND id = $2 AND active RETURNING id",  # noqa: S608
        shop_id,
        agent_id,
        now,
        *values,
    )
    return found is not None


async def deactivate_agent(conn: Connection, shop_id: str, agent_id: str, now: datetime) -> bool:
    """Their token stops working and they take no tickets; the row stays (their messages name them)."""
    found = await conn.fetchval(
        """UPDATE agents SET active = false, available = false, deactivated_at = $3, updated_at = $3
           WHERE shop_id = $1 AND id = $2 AND active RETURNING id""",
        shop_id,
        agent_id,
        now,
    )
    if found is not None:
        await conn.execute("DELETE FROM team_members WHERE shop_id = $1 AND agent_id = $2", shop_id, agent_id)
    return found is not None


async def replace_token(
    conn: Connection, shop_id: str, agent_id: str, token_sha256: str, now: datetime
) -> bool:
    found = await conn.fetchval(
        """UPDATE agents SET token_sha256 = $3, token_issued_at = $4, updated_at = $4
           WHERE shop_id = $1 AND id = $2 AND active RETURNING id""",
        shop_id,
        agent_id,
        token_sha256,
        now,
    )
    return found is not None


async def set_teams(conn: Connection, shop_id: str, agent_id: str, team_ids: Sequence[str]) -> None:
    """The agent is in exactly these teams (the caller checked they are the shop's)."""
    await conn.execute(
        "DELETE FROM team_members WHERE shop_id = $1 AND agent_id = $2 AND NOT team_id = ANY($3)",
        shop_id,
        agent_id,
        list(team_ids),
    )
    await conn.execute(
        """INSERT INTO team_members (shop_id, team_id, agent_id) SELECT $1, t, $2 FROM unnest($3::text[]) t
           ON CONFLICT DO NOTHING""",
        shop_id,
        agent_id,
        list(team_ids),
    )


# -- teams -----------------------------------------------------------------------------------------


async def insert_team(conn: Connection, team: Team, now: datetime) -> None:
    if team.is_default:
        await _clear_default(conn, team.shop_id)
    await conn.execute(
        """INSERT INTO teams (shop_id, id, name, policy, auto_assign, is_default, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)""",
        team.shop_id,
        team.id,
        team.name,
        team.policy.value,
        team.auto_assign,
        team.is_default,
        now,
    )


async def _clear_default(conn: Connection, shop_id: str) -> None:
    await conn.execute("UPDATE teams SET is_default = false WHERE shop_id = $1 AND is_default", shop_id)


async def find_team(conn: Connection, shop_id: str, team_id: str, *, lock: bool = False) -> Team | None:
    """The team; with `lock`, locked for the rest of the transaction, or None while another holds it
    (never waited for: see handlers/routing.py)."""
    query = _TEAM_LOCKED if lock else _TEAM
    row = await conn.fetchrow(query, shop_id, team_id)
    return team_of(row) if row is not None else None


async def default_team(conn: Connection, shop_id: str) -> Team | None:
    row = await conn.fetchrow("SELECT * FROM teams WHERE shop_id = $1 AND is_default", shop_id)
    return team_of(row) if row is not None else None


async def list_teams(conn: Connection, shop_id: str) -> list[Team]:
    rows = await conn.fetch("SELECT * FROM teams WHERE shop_id = $1 ORDER BY name, id", shop_id)
    return [team_of(r) for r in rows]


async def known_teams(conn: Connection, shop_id: str, team_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT id FROM teams WHERE shop_id = $1 AND id = ANY($2)", shop_id, list(team_ids)
    )
    return {r["id"] for r in rows}


async def members_of(conn: Connection, shop_id: str, team_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each team's active agents' ids, in id order."""
    rows = await conn.fetch(
        """SELECT m.team_id, m.agent_id FROM team_members m
           JOIN agents a ON a.shop_id = m.shop_id AND a.id = m.agent_id AND a.active
           WHERE m.shop_id = $1 AND m.team_id = ANY($2) ORDER BY m.team_id, m.agent_id""",
        shop_id,
        list(team_ids),
    )
    found: dict[str, list[str]] = {team_id: [] for team_id in team_ids}
    for row in rows:
        found[row["team_id"]].append(row["agent_id"])
    return found


async def update_team(
    conn: Connection, shop_id: str, team_id: str, changes: Mapping[str, Any], now: datetime
) -> bool:
    unknown = set(changes) - TEAM_FIELDS
    if unknown:  # names become SQL: only the team's own columns
        raise ValueError(f"not a changeable team field: {sorted(unknown)}")
    if changes.get("is_default"):
        await _clear_default(conn, shop_id)
    values = [_sql_value(v) for v in changes.values()]
    sets = "".join(f"{name} = ${n}, " for n, name in enumerate(changes, start=4))
    found = await conn.fetchval(
        f"UPDATE teams SET {sets}updated_at = $3 WHERE shop_id = $1 AND id = $2 RETURNING id",  # noqa: S608
        shop_id,
        team_id,
        now,
        *values,
    )
    return found is not None


async def move_cursor(conn: Connection, shop_id: str, team_id: str, agent_id: str | None) -> None:
    await conn.execute(
        "UPDATE teams SET last_agent_id = $3 WHERE shop_id = $1 AND id = $2", shop_id, team_id, agent_id
    )
