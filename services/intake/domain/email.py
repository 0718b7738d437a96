"""A raw RFC 5322 message, as an e-mail provider's inbound webhook delivers it, read into what a
contact needs: who wrote, the subject, the text (an HTML-only mail turned into plain text, scripts
and styles dropped), attachments as metadata, the Message-ID (dedupe) and the message ids it answers
(In-Reply-To, References: threading). `ignore_reason` says whether it is an automatic mail (an
auto-reply, a bounce, our own reply come back) that must never become a ticket or be answered.

Pure: the standard library's `email` package with `policy.default`. Whatever the bytes are,
`parse_email` returns or raises `EmailRefused`, never anything else.
"""

from __future__ import annotations

import contextlib
import email
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from enum import StrEnum
from html.parser import HTMLParser

MAX_TEXT_CHARS = 20_000
MAX_SUBJECT_CHARS = 500
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 500
MAX_REFERENCES = 50
MAX_ATTACHMENTS = 20
EMPTY_TEXT = "(no text)"

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,498}>")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})


class EmailRefused(ValueError):
    """Bytes that cannot be taken as a customer's e-mail; `code` is the API's error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class IgnoreReason(StrEnum):
    """Why an e-mail was recorded but neither became a ticket nor gets an answer."""

    OWN_MESSAGE = "own_message"
    """Its Message-ID is in CareLoop's own domain: one of our replies came back (a loop)."""
    DELIVERY_REPORT = "delivery_report"
    """multipart/report: a bounce or a delivery notification."""
    MAILER_DAEMON = "mailer_daemon"
    """Sent by a mailer-daemon or postmaster: a bounce."""
    AUTO_SUBMITTED = "auto_submitted"
    """Auto-Submitted other than "no" (RFC 3834): an auto-reply or another machine's mail."""
    PRECEDENCE = "precedence"
    """Precedence bulk, junk, list or auto_reply."""
    AUTOREPLY_HEADER = "autoreply_header"
    """X-Autoreply or X-Autorespond: an out-of-office answer."""


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class InboundEmail:
    sender_email: str | None
    sender_name: str | None
    subject: str
    text: str
    attachments: tuple[AttachmentInfo, ...]
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    auto_submitted: str | None
    precedence: str | None
    autoreply_header: bool
    report: bool

    @property
    def answers(self) -> tuple[str, ...]:
        """The message ids it answers, the one it replies to first."""
        return tuple(dict.fromkeys((*reversed(self.in_reply_to), *reversed(self.references))))

    @property
    def thread_root(self) -> str | None:
        """The first message of its thread (References' first, else what it replies to, else itself)."""
        for ids in (self.references, self.in_reply_to):
            if ids:
                return ids[0]
        return self.message_id


def parse_email(raw: bytes) -> InboundEmail:
    """Read `raw`; EmailRefused('unparseable_email') if it is not an e-mail at all."""
    if not raw.strip():
        raise EmailRefused("unparseable_email", "the body is empty: send the raw RFC 5322 message")
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        if not message.keys():
            raise EmailRefused("unparseable_email", "no header found: not an RFC 5322 message")
        return _read(message)
    except EmailRefused:
        raise
    except Exception as exc:  # the email package's own failures on hostile input: a refusal, never a 500
        raise EmailRefused("unparseable_email", f"the message cannot be read: {type(exc).__name__}") from None


def _read(message: Message) -> InboundEmail:
    sender_email, sender_name = _sender(message)
    ids = _ids(_header(message, "Message-ID"))
    raw_id = _header(message, "Message-ID").strip()
    message_id = ids[0] if ids else (f"<{raw_id[: MAX_ID_CHARS - 2]}>" if raw_id else None)
    attachments, text = _content(message)
    auto = _header(message, "Auto-Submitted").strip().lower() or None
    return InboundEmail(
        sender_email=sender_email,
        sender_name=sender_name,
        subject=_clean(" ".join(_header(message, "Subject").split()))[:MAX_SUBJECT_CHARS],
        text=text,
        attachments=attachments,
        message_id=message_id,
        in_reply_to=_ids(_header(message, "In-Reply-To")),
        references=_ids(_header(message, "References"))[-MAX_REFERENCES:],
        auto_submitted=auto.split(";")[0].strip() if auto else None,
        precedence=_header(message, "Precedence").strip().lower() or None,
        autoreply_header=any(_header(message, h) for h in ("X-Autoreply", "X-Autorespond")),
        report=message.get_content_type() == "multipart/report",
    )


def ignore_reason(mail: InboundEmail, own_domain: str) -> IgnoreReason | None:
    """Why `mail` must not become a ticket nor be answered, or None for a person's mail."""
    if mail.message_id and mail.message_id.lower().endswith(f"@{own_domain.lower()}>"):
        return IgnoreReason.OWN_MESSAGE
    if mail.report:
        return IgnoreReason.DELIVERY_REPORT
    local = (mail.sender_email or "").split("@")[0].lower()
    if local in _DAEMONS:
        return IgnoreReason.MAILER_DAEMON
    if mail.auto_submitted and mail.auto_submitted != "no":
        return IgnoreReason.AUTO_SUBMITTED
    if mail.precedence in _PRECEDENCE:
        return IgnoreReason.PRECEDENCE
    if mail.autoreply_header:
        return IgnoreReason.AUTOREPLY_HEADER
    return None


# -- headers ---------------------------------------------------------------------------------------


def _header(message: Message, name: str) -> str:
    """A header's decoded value, '' if absent or unreadable (one bad header spoils nothing else)."""
    try:
        value = message.get(name)
        return _clean(str(value)) if value is not None else ""
    except Exception:
        return ""


def _ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value)))


def _sender(message: Message) -> tuple[str | None, str | None]:
    try:
        addresses = getattr(message["From"], "addresses", ())
    except Exception:
        return None, None
    for address in addresses:
        if address.username and address.domain:
            name = _clean(address.display_name).strip()[:MAX_NAME_CHARS] or None
            return f"{address.username}@{address.domain}", name
    return None, None


# -- body ------------------------------------------------------------------------------------------


def _content(message: Message) -> tuple[tuple[AttachmentInfo, ...], str]:
    body = _body_part(message)
    attachments: list[AttachmentInfo] = []
    for part in message.walk():
        if not isinstance(part, EmailMessage) or part is body or part.is_multipart():
            continue
        if len(attachments) >= MAX_ATTACHMENTS:
            break
        # an unnamed text part is the body's alternative (its HTML twin), not an attachment
        if part.is_attachment() or part.get_filename() or part.get_content_maintype() != "text":
            attachments.append(_attachment(part))
    text = _text_of(body) if body is not None else ""
    return tuple(attachments), text or EMPTY_TEXT


def _body_part(message: Message) -> Message | None:
    if isinstance(message, EmailMessage):
        for kind in ("plain", "html"):
            found = message.get_body(preferencelist=(kind,))
            if found is not None:
                return found
    return None


def _attachment(part: Message) -> AttachmentInfo:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    size = len(payload) if isinstance(payload, bytes) else 0
    filename = _clean(part.get_filename() or "") or "unnamed"
    return AttachmentInfo(filename[:255], part.get_content_type()[:100], size)


def _text_of(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
    except Exception:  # an unknown charset or a broken transfer encoding: the bytes as well as we can
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        content = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else ""
    text = html_to_text(content) if part.get_content_subtype() == "html" else content
    return _tidy(text)[:MAX_TEXT_CHARS].strip()


def _clean(value: str) -> str:
    """No NUL (Postgres text cannot hold one) and no lone surrogates (undecodable bytes)."""
    return value.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in _clean(text).replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


# -- HTML ------------------------------------------------------------------------------------------


class _TextOnly(HTMLParser):
    """The text a reader sees: no scripts, styles or head, a line break where a block ends."""

    SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "table", "ul", "ol", "blockquote", "section", "article", "hr"}
        | {"header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n- " if tag == "li" else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCKS and tag != "li":  # the next item starts its own line
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML mail: what is read, never markup or script."""
    parser = _TextOnly()
    # html.parser is lenient; whatever it still refuses ends the text there
    with contextlib.suppress(Exception):
        parser.feed(html)
        parser.close()
    return _tidy("".join(parser.parts))
