from __future__ import annotations

import re
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.networks import validate_email

TEXT_CHECKED = "careloop_text_checked"
"""Validation context key: the caller already knows the input holds no NUL (e.g. the raw JSON has no
\\u0000 escape), so the per-model walk is skipped."""


def _contains_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


class PlainText(BaseModel):
    """Base of every model carrying people's text: NUL characters are refused at the edge, since
    Postgres text cannot store them and they are never meaningful in a message."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get(TEXT_CHECKED):
            return data
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters (\\u0000)")
        return data


_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,63}))"
)

_SPECIAL_USE_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)
assert all("." not in name for name in _SPECIAL_USE_TLDS), "email-validator's special-use names changed"


def normalize_email(value: str) -> str:
    """pydantic's EmailStr answer. Plain ASCII addresses (nearly all of them) are checked by one regex
    and get the same normalisation (domain lower-cased); the rest go through email-validator, whose
    IDNA machinery costs more than the rest of an order event's validation together."""
    plain = _PLAIN_ADDRESS.fullmatch(value) if len(value) <= 254 else None
    # special-use names are single labels and a plain domain has a dot: only its TLD can be one
    if (
        plain
        and len(plain["local"]) <= 64
        and len(plain["domain"]) <= 253
        and plain["tld"].lower() not in _SPECIAL_USE_TLDS
    ):
        return f"{plain['local']}@{plain['domain'].lower()}"
    return validate_email(value)[1]


Email = Annotated[str, AfterValidator(normalize_email), WithJsonSchema({"type": "string", "format": "email"})]
"""An e-mail address, validated and normalised as pydantic's EmailStr does."""


class EventData(PlainText):
    """Base of every event payload: unknown extra fields survive a round trip (forward compatibility)."""

    model_config = ConfigDict(extra="allow", frozen=True)


Locale = str  # BCP 47, e.g. "pl-PL" or "en"

ShopId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class Customer(EventData):
    id: str = Field(min_length=1, max_length=128)
    email: Email | None = None
    phone: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    locale: Locale = Field(default="en", max_length=35)
