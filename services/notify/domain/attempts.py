"""What one HTTP attempt's result means for the delivery and the endpoint."""

from __future__ import annotations

from enum import StrEnum


class AttemptOutcome(StrEnum):
    SUCCESS = "success"
    HTTP_ERROR = "http_error"
    GONE = "gone"
    """410 Gone: the receiver says the endpoint no longer exists; it is disabled."""
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    NETWORK_ERROR = "network_error"
    REFUSED = "refused"
    """The SSRF policy forbade the address; nothing was sent."""

    @property
    def succeeded(self) -> bool:
        return self is AttemptOutcome.SUCCESS


def outcome_for_status(status_code: int) -> AttemptOutcome:
    if 200 <= status_code < 300:
        return AttemptOutcome.SUCCESS
    if status_code == 410:
        return AttemptOutcome.GONE
    return AttemptOutcome.HTTP_ERROR
