"""A reply as an e-mail through the shop's SMTP relay: the message itself (threading headers, one
line per header whatever the text holds) and what a failed send means for the next one.

Retries follow the webhooks' schedule (domain/retry.py) with one difference: a relay's permanent
refusal (an SMTP 5xx) is final at once, since sending the same mail again can only be refused again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from services.notify.domain.retry import next_delay

_RE = "re:"


@dataclass(frozen=True)
class OutgoingEmail:
    """A reply queued for a shop's relay (from ticket.replied)."""

    to_address: str
    to_name: str | None
    subject: str
    text: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    automatic: bool
    written_at: datetime


@dataclass(frozen=True)
class Sender:
    address: str
    name: str | None


def reply_subject(ticket_subject: str) -> str:
    """ "Re: <the ticket's subject>", once: a subject already answering stays as it is."""
    subject = _one_line(ticket_subject)
    if subject.lower().startswith(_RE):
        return subject
    return f"Re: {subject}" if subject else "Re: your message"


def compose(mail: OutgoingEmail, sender: Sender) -> EmailMessage:
    """The e-mail: From the shop's sender, To the customer, its own Message-ID, In-Reply-To and
    References so the customer's client threads it and their answer names it. An automatic answer
    says so (Auto-Submitted, RFC 3834), so the customer's own auto-responder does not answer it."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(sender.address, sender.name)
    message["To"] = _address(mail.to_address, mail.to_name)
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = format_datetime(mail.written_at)
    message["Message-ID"] = _one_line(mail.message_id)
    if mail.in_reply_to:
        message["In-Reply-To"] = _one_line(mail.in_reply_to)
    if mail.references:
        message["References"] = " ".join(_one_line(r) for r in mail.references)
    if mail.automatic:
        message["Auto-Submitted"] = "auto-replied"
    message.set_content(mail.text)
    return message


def _address(address: str, name: str | None) -> Address:
    return Address(display_name=_one_line(name or ""), addr_spec=address)


def _one_line(value: str) -> str:
    """A header value cannot hold a line break (that would be header injection)."""
    return " ".join(value.split())


@dataclass(frozen=True)
class RetryAt:
    at: datetime


@dataclass(frozen=True)
class GiveUp:
    """The send is dead-lettered after `attempts` attempts."""

    attempts: int


def after_failure(
    permanent: bool,
    attempts_made: int,
    schedule: Sequence[float],
    jitter: float,
    unit_random: float,
    now: datetime,
) -> RetryAt | GiveUp:
    """After the `attempts_made`-th attempt failed: when to try again, or give up."""
    delay = None if permanent else next_delay(schedule, attempts_made, jitter, unit_random)
    if delay is None:
        return GiveUp(attempts_made)
    return RetryAt(now + timedelta(seconds=delay))
