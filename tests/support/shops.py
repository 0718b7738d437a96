"""Two test shops with known API keys, written to a registry file for each isolated run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from runtime.shops import hash_api_key

SHOP_A = "shop-a"
SHOP_B = "shop-b"
KEY_A = "clk_test_shop_a_0123456789abcdefghij"
KEY_B = "clk_test_shop_b_0123456789abcdefghij"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def write_shops_file() -> Path:
    shops = [
        {
            "id": SHOP_A,
            "name": "Shop A",
            "api_key_sha256": hash_api_key(KEY_A),
            "timezone": "Europe/Warsaw",
            "locale": "pl",
        },
        {
            "id": SHOP_B,
            "name": "Shop B",
            "api_key_sha256": hash_api_key(KEY_B),
            "timezone": "Europe/London",
            "locale": "en",
        },
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="careloop-shops-", delete=False) as handle:
        json.dump({"shops": shops}, handle)
    return Path(handle.name)
