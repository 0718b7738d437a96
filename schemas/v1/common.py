from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


class PlainText(BaseModel):
    """Base of every model carrying people's text: NUL characters are refused at the edge, since
    Postgres text cannot store them and they are never meaningful in a message."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters (\\u0000)")
        return data


class EventData(PlainText):
    """Base of every event payload: unknown extra fields survive a round trip (forward compatibility)."""

    model_config = ConfigDict(extra="allow", frozen=True)


Locale = str  # BCP 47, e.g. "pl-PL" or "en"

ShopId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class Customer(EventData):
    id: str = Field(min_length=1, max_length=128)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=200)
    locale: Locale = Field(default="en", max_length=35)
