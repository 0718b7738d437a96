from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class EventData(BaseModel):
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
