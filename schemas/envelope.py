"""CloudEvents 1.0 envelope in structured JSON mode, the wire format of every CareLoop topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

DataT = TypeVar("DataT", bound=BaseModel)

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"


def new_event_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """One event. Extension attributes a producer adds are kept (extra='allow')."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(default_factory=new_event_id, min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    specversion: str = Field(default=SPEC_VERSION, pattern=r"^1\.0$")
    time: datetime = Field(default_factory=utc_now)
    subject: str | None = Field(default=None, max_length=500)
    datacontenttype: str = JSON_CONTENT_TYPE
    dataschema: str | None = None
    data: DataT


class RawCloudEvent(CloudEvent[Any]):
    """Envelope whose data is not yet validated against its type's model."""

    data: dict[str, Any]
