"""Event-type filters of an endpoint: exact types, `prefix.*` wildcards, or `*` for everything."""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def is_valid_pattern(pattern: str) -> bool:
    return bool(_PATTERN.match(pattern))


def matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
