"""One send through a shop's SMTP relay (aiosmtplib): connect to an address the egress policy allows
(resolved here, as for webhooks, so a relay name cannot be pointed at an internal address later),
STARTTLS verifying the relay's host name, log in, send. Whatever happens is a `SendResult`, never an
exception; the result's error never carries the credentials."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from services.notify.resolver import Forbidden, Resolver, Unresolvable

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None = field(repr=False)
    from_address: str
    from_name: str | None


@dataclass(frozen=True)
class SendResult:
    sent: bool
    permanent: bool = False
    """The relay refused for good (an SMTP 5xx): sending the same mail again cannot succeed."""
    error: str | None = None
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        """A metric label: sent, temporary or permanent."""
        return "sent" if self.sent else "permanent" if self.permanent else "temporary"


class _Refused(Exception):
    pass


async def send_email(
    relay: Relay,
    message: EmailMessage,
    recipient: str,
    resolver: Resolver,
    timeout: float,
    *,
    helo_name: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> SendResult:
    """Send `message` to `recipient` through `relay` within `timeout` seconds in all."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            client = await _connect(relay, resolver, timeout, helo_name)
            try:
                if relay.starttls:
                    await client.starttls(server_hostname=relay.host, tls_context=tls)
                if relay.username:
                    await client.login(relay.username, relay.password or "")
                await client.send_message(message, sender=relay.from_address, recipients=[recipient])
            finally:
                client.close()
    except TimeoutError:
        return _failed(f"no answer from the relay within {timeout:g} s", started)
    except _Refused as exc:
        return _failed(f"refused by egress policy: {exc}", started)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return _failed(f"recipient refused: {detail}", started, permanent=all(500 <= c < 600 for c in codes))
    except aiosmtplib.SMTPResponseException as exc:
        return _failed(f"{exc.code} {exc.message}", started, permanent=500 <= exc.code < 600)
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        return _failed(f"{type(exc).__name__}: {exc}", started)
    return SendResult(True, seconds=time.perf_counter() - started)


async def _connect(
    relay: Relay, resolver: Resolver, timeout: float, helo_name: str | None
) -> aiosmtplib.SMTP:
    """A connection to the first allowed address of the relay that answers. Never STARTTLS here:
    the connection is made to an address, and TLS must verify the relay's name."""
    try:
        addresses = await resolver.allowed_addresses(relay.host, relay.port)
    except Forbidden as exc:
        raise _Refused(exc.reason) from None
    except Unresolvable as exc:
        raise aiosmtplib.SMTPConnectError(str(exc)) from None
    last: Exception | None = None
    for address in addresses:
        client = aiosmtplib.SMTP(
            hostname=str(address), port=relay.port, start_tls=False, timeout=timeout, local_hostname=helo_name
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            last = exc
            continue
        return client
    raise aiosmtplib.SMTPConnectError(f"cannot connect to {relay.host}:{relay.port}: {last}")


def _failed(error: str, started: float, permanent: bool = False) -> SendResult:
    return SendResult(False, permanent, error[:MAX_ERROR_CHARS], time.perf_counter() - started)
