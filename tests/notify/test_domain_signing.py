"""Signatures are checked with the reference `standardwebhooks` package, never with our own code."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify.domain.signing import active_secrets, new_secret, webhook_headers

SECRET = new_secret(bytes(range(24)))
OTHER = new_secret(bytes(range(100, 124)))


def test_a_signed_body_verifies_with_the_reference_library() -> None:
    body = b'{"type":"order.shipped","timestamp":"2026-01-05T09:00:00Z","data":{"order_id":"o-1"}}'
    headers = webhook_headers([SECRET], "msg_1", int(time.time()), body)
    assert Webhook(SECRET).verify(body, headers) == {
        "type": "order.shipped",
        "timestamp": "2026-01-05T09:00:00Z",
        "data": {"order_id": "o-1"},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_both_secrets_sign_during_rotation() -> None:
    body = b"{}"
    headers = webhook_headers([OTHER, SECRET], "msg_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(body, headers)
    Webhook(OTHER).verify(body, headers)


def test_active_secrets_follow_the_overlap_window() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    end = now + timedelta(hours=1)
    assert active_secrets("new", "old", end, now) == ["new", "old"]
    assert active_secrets("new", "old", end, end) == ["new"]
    assert active_secrets("new", None, None, now) == ["new"]


def test_secrets_have_the_whsec_format_and_enough_entropy() -> None:
    assert SECRET.startswith("whsec_")
    with pytest.raises(ValueError, match="16 random bytes"):
        new_secret(b"short")
    with pytest.raises(ValueError, match="at least one secret"):
        webhook_headers([], "msg", 0, b"")


@settings(max_examples=50)
@given(
    st.binary(min_size=16, max_size=64),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    st.text(max_size=200),
)
def test_any_secret_id_and_utf8_body_verify(key: bytes, msg_id: str, text: str) -> None:
    body = text.encode()
    secret = new_secret(key)
    headers = webhook_headers(
        [secret], msg_id.replace(",", "").replace(" ", "") or "m", int(time.time()), body
    )
    Webhook(secret).verify(body, headers, json_parse=False)
