"""The platforms' signatures: base64 HMAC-SHA256 of the raw body, any of the shop's secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.platforms.signatures import sign, verify

SECRET = "shpss_0123456789abcdef"


def test_a_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":5712345678123,"name":"#1042"}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, SECRET) == expected
    assert verify(body, expected, [SECRET])


def test_any_secret_of_a_rotation_verifies() -> None:
    body = b"{}"
    assert verify(body, sign(body, "new-secret"), ["old-secret", "new-secret"])
    assert verify(body, sign(body, "old-secret"), ["old-secret", "new-secret"])
    assert not verify(body, sign(body, "gone-secret"), ["old-secret", "new-secret"])


def test_no_secret_no_header_or_no_base64_never_verifies() -> None:
    body = b"{}"
    assert not verify(body, sign(body, SECRET), [])
    assert not verify(body, None, [SECRET])
    assert not verify(body, "", [SECRET])
    assert not verify(body, "not base64 !", [SECRET])


@given(body=st.binary(max_size=300), flip=st.integers(min_value=0, max_value=299))
def test_a_changed_body_does_not_verify(body: bytes, flip: int) -> None:
    signature = sign(body, SECRET)
    assert verify(body, signature, [SECRET])
    if body:
        changed = bytearray(body)
        changed[flip % len(body)] ^= 0x01
        assert not verify(bytes(changed), signature, [SECRET])
    assert not verify(body + b" ", signature, [SECRET])
