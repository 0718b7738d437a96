"""A shop's own category/priority rule table (absent: the default one)."""

from __future__ import annotations

import json
from datetime import datetime

from runtime.db import Connection

from ..domain.agents import PeopleRefused
from ..domain.rules import DEFAULT_RULES, RuleTable
from .agents import known_teams


async def rules_in_force(conn: Connection, shop_id: str) -> RuleTable:
    document = await conn.fetchval("SELECT rules FROM shop_rules WHERE shop_id = $1", shop_id)
    return RuleTable.model_validate(document) if document is not None else DEFAULT_RULES


async def save_shop_rules(conn: Connection, shop_id: str, rules: RuleTable, at: datetime) -> None:
    """Refused (PeopleRefused) if a rule names a team the shop does not have."""
    named = sorted({r.team_id for r in rules.rules if r.team_id is not None})
    missing = set(named) - await known_teams(conn, shop_id, named) if named else set()
    if missing:
        raise PeopleRefused("unknown_team", f"a rule names a team the shop does not have: {sorted(missing)}")
    await conn.execute(
        """INSERT INTO shop_rules (shop_id, rules, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (shop_id) DO UPDATE SET rules = $2, updated_at = $3""",
        shop_id,
        json.loads(rules.model_dump_json()),
        at,
    )


async def delete_shop_rules(conn: Connection, shop_id: str) -> None:
    await conn.execute("DELETE FROM shop_rules WHERE shop_id = $1", shop_id)
