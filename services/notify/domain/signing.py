"""Standard Webhooks signing: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, where the
key is the base64 payload of the `whsec_` secret. During a rotation both secrets sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret
SECRET_BYTES = 24


def new_secret(random_bytes: bytes) -> str:
    if len(random_bytes) < 16:
        raise ValueError("a signing secret needs at least 16 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a whsec_ secret")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secrets: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per active secret, space-separated."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, webhook_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }


def active_secrets(
    current: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign at `now`: the current one, plus the previous one until its overlap ends."""
    if previous is not None and previous_expires_at is not None and now < previous_expires_at:
        return [current, previous]
    return [current]
