"""Answer-link tokens: random, stored only as a hash, single use, expiring."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TokenState(StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    ANSWERED = "answered"
    EXPIRED = "expired"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenFacts:
    expires_at: datetime
    answered_at: datetime | None


def token_state(facts: TokenFacts | None, now: datetime) -> TokenState:
    if facts is None:
        return TokenState.UNKNOWN
    if facts.answered_at is not None:
        return TokenState.ANSWERED
    if now >= facts.expires_at:
        return TokenState.EXPIRED
    return TokenState.VALID
