"""The workspace's session and CSRF rules, pure: the secrets, what is kept of them, and when a cookie
must be Secure. The routes (pages.py) read and set the cookies; repository.py keeps the sessions.

A session id is 32 random bytes, sent to the browser once, in an HttpOnly cookie; the database keeps
its SHA-256 only. Each session's CSRF token is an HMAC of its id: the pages put it in every form that
changes something, a POST must bring it back, and a page never shows the id itself. Before there is
a session (the sign-in form), a random value in a second cookie and the same value in the form play
that part (a double-submit token), so nobody can sign a browser in under their own token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

SESSION_COOKIE = "careloop_workspace"
SIGN_IN_COOKIE = "careloop_workspace_sign_in"
COOKIE_PATH = "/workspace"
_CSRF_PURPOSE = b"careloop workspace csrf v1"


def new_secret() -> str:
    """A fresh session id or sign-in token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is kept of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: derived from its id, so it is never stored, and showing it in a page
    reveals nothing of the id."""
    return hmac.new(session_id.encode(), _CSRF_PURPOSE, hashlib.sha256).hexdigest()


def same_secret(expected: str | None, given: str | None) -> bool:
    """Whether a form brought back the token it was given (compared in constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def secure_transport(scheme: str, forwarded_proto: str | None) -> bool:
    """Whether the browser reached us over TLS: directly, or through a proxy that says so. Then the
    cookies are Secure (a browser sends them back over TLS only)."""
    if scheme == "https":
        return True
    first = (forwarded_proto or "").split(",")[0].strip().lower()
    return first == "https"


def safe_next(target: str | None, default: str = COOKIE_PATH + "/") -> str:
    """Where to go back to after a form: a path of the workspace only, never another site."""
    if not target or not target.startswith(COOKIE_PATH + "/") or "//" in target or "\\" in target:
        return default
    return target


@dataclass(frozen=True)
class Session:
    """A signed-in agent, as each request finds them."""

    id_sha256: str
    shop_id: str
    agent_id: str
    agent_name: str
    role: str
    locale: str
    csrf: str


def expiry(now: datetime, hours: float) -> datetime:
    return now + timedelta(hours=hours)
