"""The platforms' webhook signatures: base64 of HMAC-SHA256 over the raw body with the shop's secret
(Shopify `X-Shopify-Hmac-Sha256`, WooCommerce `X-WC-Webhook-Signature`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, signature: str | None, secrets: Sequence[str]) -> bool:
    """Whether `signature` is the body's under any of `secrets` (several while a secret is rotated).
    Every secret is tried and compared in constant time, so the answer's timing tells nothing about
    which one matched or how much of a forged signature was right."""
    if not signature:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    return matched
