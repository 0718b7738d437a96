"""A shop's settings of automatic answers and housekeeping (absent: the defaults, domain/settings.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from runtime.db import Connection

from ..domain.settings import DEFAULT_AUTOMATIC_ANSWERS, DEFAULT_HOUSEKEEPING, AutomaticAnswers, Housekeeping

AUTOMATIC_ANSWERS = "automatic_answers"
HOUSEKEEPING = "housekeeping"


async def automatic_answers(conn: Connection, shop_id: str) -> AutomaticAnswers:
    document = await conn.fetchval(
        "SELECT settings FROM shop_settings WHERE shop_id = $1 AND kind = $2", shop_id, AUTOMATIC_ANSWERS
    )
    return AutomaticAnswers.model_validate(document) if document is not None else DEFAULT_AUTOMATIC_ANSWERS


async def housekeeping(conn: Connection, shop_ids: Sequence[str]) -> dict[str, Housekeeping]:
    """The housekeeping settings of each of `shop_ids`, in one round trip."""
    rows = await conn.fetch(
        "SELECT shop_id, settings FROM shop_settings WHERE shop_id = ANY($1::text[]) AND kind = $2",
        list(shop_ids),
        HOUSEKEEPING,
    )
    found = {r["shop_id"]: Housekeeping.model_validate(r["settings"]) for r in rows}
    return {shop_id: found.get(shop_id, DEFAULT_HOUSEKEEPING) for shop_id in shop_ids}


async def save(conn: Connection, shop_id: str, kind: str, settings: BaseModel, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO shop_settings (shop_id, kind, settings, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (shop_id, kind) DO UPDATE SET settings = $3, updated_at = $4""",
        shop_id,
        kind,
        json.loads(settings.model_dump_json()),
        at,
    )
