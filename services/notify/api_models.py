"""The notify API's request and response models, and the documented shape of every error it answers
(`{"error": <code>, "detail": …}`, raised as runtime.http_api.ApiError)."""

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator

from schemas.v1.common import Email
from services.notify.domain.filters import is_valid_pattern
from services.notify.repository.endpoints import Endpoint


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string Postgres can store: no NUL characters (a 422, not a 500)."""


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: Text = Field(min_length=1, max_length=2000, examples=["https://shop.example/hooks/careloop"])
    description: Text = Field(default="", max_length=500)
    event_types: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=50)
    """Exact types (`order.shipped`), wildcards (`order.*`) or `*` for everything."""
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10_000)

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not is_valid_pattern(p)]
        if bad:
            raise ValueError(f"invalid event-type patterns {bad}: use `order.shipped`, `order.*` or `*`")
        return sorted(set(value))


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    url: Text | None = Field(default=None, min_length=1, max_length=2000)
    description: Text | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=10_000)
    enabled: bool | None = None
    """false disables the endpoint; true re-enables it (also one the service disabled)."""

    @field_validator("event_types")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else EndpointCreate._patterns(value)


class EndpointOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    url: str
    description: str
    event_types: list[str]
    rate_limit_per_second: float | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    """While set and in the future, deliveries carry a signature with the previous secret too."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: Endpoint) -> "EndpointOut":
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            event_types=e.event_types,
            rate_limit_per_second=e.rate_limit_per_second,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            disabled_at=e.disabled_at,
            failing_since=e.failing_since,
            previous_secret_expires_at=e.previous_secret_expires_at,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


class EndpointCreated(EndpointOut):
    secret: str
    """The signing secret (`whsec_…`); shown only now and on rotation."""


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    overlap_seconds: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    """How long the old secret keeps signing beside the new one (default: the service's setting)."""


class RotatedSecret(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    secret: str
    previous_secret_expires_at: datetime


DeliveryStatusName = Literal["pending", "delivering", "succeeded", "dead"]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    endpoint_id: str
    webhook_id: str
    event_id: str
    event_type: str
    event_time: datetime
    status: DeliveryStatusName
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "DeliveryOut":
        return cls(
            id=row["id"],
            endpoint_id=row["endpoint_id"],
            webhook_id=row["webhook_id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            event_time=row["event_time"],
            status=row["status"],
            attempts=row["total_attempts"],
            next_attempt_at=None if row["status"] in ("succeeded", "dead") else row["next_attempt_at"],
            last_status_code=row["last_status_code"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )


class AttemptOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    attempted_at: datetime
    outcome: str
    status_code: int | None
    latency_ms: float
    response_body: str | None
    """The receiver's answer, truncated to the configured cap."""
    error: str | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class ReplayFailedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    since: AwareDatetime
    """Replay every dead-lettered delivery of the endpoint created at or after this instant."""


class ReplayResult(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    replayed: int


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    subject: Text = Field(min_length=1, max_length=500)
    text: Text = Field(min_length=1, max_length=10_000)


class TemplateOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    event_type: str
    language: str
    subject: str
    text: str
    source: Literal["shop", "default"]
    audience: Literal["customer", "staff"]
    """Who the message is written for: the customer, or the shop's people (the SLA alerts)."""


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _relay_host(value: str) -> str:
    """A host name (labels of 1-63 letters, digits, hyphens) or an IP address, e.g. [::1]."""
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        if not all(_HOST_LABEL.match(label) for label in value.removesuffix(".").split(".")):
            raise ValueError("not a host name or an IP address") from None
    return value


class RelayIn(BaseModel):
    """A shop's SMTP relay for e-mail replies (replaces the one it had)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    host: Annotated[str, AfterValidator(_relay_host)] = Field(
        min_length=1, max_length=253, examples=["smtp.example.com"]
    )
    """Host name or address of the relay (checked by the egress policy now and on every connection)."""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade to TLS (verifying the host name) before logging in; off only for a relay on a trusted
    network."""
    username: Text | None = Field(default=None, max_length=320)
    password: SecretStr | None = Field(default=None, max_length=1000)
    """Write-only: kept by the service to log in, never shown again (the answer says password_set)."""
    from_address: Email
    """The shop's sender address the replies come from."""
    from_name: Text | None = Field(default=None, max_length=200)


class RelayOut(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    host: str
    port: int
    starttls: bool
    username: str | None
    password_set: bool
    from_address: str
    from_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> "RelayOut":
        return cls(
            host=row["host"],
            port=row["port"],
            starttls=row["starttls"],
            username=row["username"],
            password_set=row["password"] is not None,
            from_address=row["from_address"],
            from_name=row["from_name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


EmailStatusName = Literal["pending", "sending", "sent", "dead"]


class EmailSendOut(BaseModel):
    """One reply e-mail and how its sending went."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    ticket_id: str
    message_id: str
    """The ticket message it carries (what support.reply_status reports on)."""
    to_address: str
    subject: str
    header_message_id: str
    status: EmailStatusName
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    """Why the last attempt failed; for a dead one, why it was given up."""
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> "EmailSendOut":
        finished = row["status"] in ("sent", "dead")
        return cls(**{**dict(row), "next_attempt_at": None if finished else row["next_attempt_at"]})


RefusalCode = Literal["invalid_url", "url_refused", "invalid_template", "relay_refused"]
"""The codes of the service's own 422s, beside the schema's `invalid_request`."""


class Unauthorized(BaseModel):
    error: Literal["unauthorized"]
    detail: str


class NotFound(BaseModel):
    error: Literal["not_found"]
    detail: str


class Conflict(BaseModel):
    error: Literal["conflict"]
    detail: str


class Refusal(BaseModel):
    """Input the schema accepts but the service refuses: `invalid_url` (scheme, credentials),
    `url_refused` (an address the egress policy forbids), `invalid_template` (does not parse),
    `relay_refused` (an SMTP relay host the egress policy forbids)."""

    error: RefusalCode
    detail: str


class FieldProblem(BaseModel):
    field: str
    message: str


class InvalidRequest(BaseModel):
    """A body or parameter that does not match the schema."""

    error: Literal["invalid_request"]
    detail: list[FieldProblem]


class BodyTooLarge(BaseModel):
    error: Literal["body_too_large"]
    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Unauthorized, "description": "missing or unknown API key"},
    404: {"model": NotFound, "description": "no such resource for this shop"},
    413: {"model": BodyTooLarge, "description": "request body too large"},
    422: {
        "model": InvalidRequest | Refusal,
        "description": "invalid input, a URL the service refuses, or a template that does not parse",
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Conflict, "description": "the delivery is still pending"}
}
