"""Reading a raw e-mail (services/intake/domain/email.py): what a contact takes from it, and which
mails are automatic and must never become a ticket or be answered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.email import (
    EMPTY_TEXT,
    MAX_ATTACHMENTS,
    EmailRefused,
    IgnoreReason,
    html_to_text,
    ignore_reason,
    parse_email,
)

OURS = "replies.shop.example"


def mail(*headers: str, body: str = "Where is my parcel?", content_type: str = "text/plain") -> bytes:
    head = [
        "From: Anna Kowalska <anna@example.com>",
        "To: help@shop.example",
        "Subject: Order 123",
        "Message-ID: <m1@mail.example.com>",
        f"Content-Type: {content_type}; charset=utf-8",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def test_a_plain_mail_gives_sender_subject_text_and_ids() -> None:
    parsed = parse_email(
        mail(
            "In-Reply-To: <msg_1@replies.shop.example>",
            "References: <root@mail.example.com>\r\n <msg_1@replies.shop.example>",
        )
    )
    assert parsed.sender_email == "anna@example.com"
    assert parsed.sender_name == "Anna Kowalska"
    assert parsed.subject == "Order 123"
    assert parsed.text == "Where is my parcel?"
    assert parsed.message_id == "<m1@mail.example.com>"
    assert parsed.in_reply_to == ("<msg_1@replies.shop.example>",)
    assert parsed.references == ("<root@mail.example.com>", "<msg_1@replies.shop.example>")
    assert parsed.answers == ("<msg_1@replies.shop.example>", "<root@mail.example.com>")
    assert parsed.thread_root == "<root@mail.example.com>"
    assert ignore_reason(parsed, OURS) is None


def test_encoded_words_are_decoded() -> None:
    raw = mail(body="Dzień dobry").replace(
        b"Subject: Order 123", b"Subject: =?utf-8?q?Zam=C3=B3wienie_nr_5?="
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Zamówienie nr 5"
    assert parsed.text == "Dzień dobry"


def test_a_mail_without_references_is_its_own_thread_root() -> None:
    parsed = parse_email(mail())
    assert parsed.answers == ()
    assert parsed.thread_root == "<m1@mail.example.com>"


MULTIPART = b"""From: anna@example.com\r
Subject: Invoice\r
Message-ID: <m2@mail.example.com>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="XX"\r
\r
--XX\r
Content-Type: multipart/alternative; boundary="YY"\r
\r
--YY\r
Content-Type: text/plain; charset=utf-8\r
\r
Please see the attached invoice.\r
--YY\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Please see the <b>attached</b> invoice.</p>\r
--YY--\r
--XX\r
Content-Type: application/pdf; name="invoice.pdf"\r
Content-Disposition: attachment; filename="invoice.pdf"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQK\r
--XX\r
Content-Type: image/png\r
Content-Disposition: inline\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--XX--\r
"""


def test_the_plain_part_is_the_text_and_files_are_metadata_only() -> None:
    parsed = parse_email(MULTIPART)
    assert parsed.text == "Please see the attached invoice."
    assert [(a.filename, a.content_type, a.size_bytes) for a in parsed.attachments] == [
        ("invoice.pdf", "application/pdf", 9),
        ("unnamed", "image/png", 8),
    ]


def test_an_html_only_mail_becomes_plain_text_without_scripts_or_styles() -> None:
    html = (
        "<html><head><title>Hi</title><style>p { color: red }</style></head><body>"
        "<p>Hello&nbsp;there &amp; thanks</p><script>steal(document.cookie)</script>"
        "<ul><li>one</li><li>two</li></ul><img src=x onerror=alert(1)></body></html>"
    )
    parsed = parse_email(mail(body=html, content_type="text/html"))
    assert parsed.text == "Hello there & thanks\n\n- one\n- two"
    for leaked in ("steal", "color", "<", "onerror", "Hi\n"):
        assert leaked not in parsed.text


def test_an_unclosed_script_hides_everything_after_it() -> None:
    assert html_to_text("<p>visible</p><script>var x = '<p>no</p>'") == "visible"


def test_a_mail_without_text_says_so() -> None:
    assert parse_email(mail(body="")).text == EMPTY_TEXT


def test_at_most_the_first_attachments_are_listed() -> None:
    parts = [
        f'--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f{n}"'
        "\r\n\r\nx\r\n"
        for n in range(MAX_ATTACHMENTS + 5)
    ]
    raw = (
        'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nsee files\r\n" + "".join(parts) + "--B--\r\n"
    ).encode()
    parsed = parse_email(raw)
    assert len(parsed.attachments) == MAX_ATTACHMENTS
    assert parsed.attachments[0].filename == "f0"


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        (["Auto-Submitted: auto-replied"], None, IgnoreReason.AUTO_SUBMITTED),
        (["Auto-Submitted: auto-generated; foo=bar"], None, IgnoreReason.AUTO_SUBMITTED),
        (["Precedence: bulk"], None, IgnoreReason.PRECEDENCE),
        (["Precedence: Junk"], None, IgnoreReason.PRECEDENCE),
        (["Precedence: list"], None, IgnoreReason.PRECEDENCE),
        (["Precedence: auto_reply"], None, IgnoreReason.PRECEDENCE),
        (["X-Autoreply: yes"], None, IgnoreReason.AUTOREPLY_HEADER),
        (["X-Autorespond: on vacation"], None, IgnoreReason.AUTOREPLY_HEADER),
        ([], "MAILER-DAEMON@mx.example.com", IgnoreReason.MAILER_DAEMON),
        ([], "postmaster@example.com", IgnoreReason.MAILER_DAEMON),
    ],
)
def test_automatic_mails_are_recognised(headers: list[str], sender: str | None, reason: IgnoreReason) -> None:
    raw = mail(*headers)
    if sender is not None:
        raw = raw.replace(b"Anna Kowalska <anna@example.com>", sender.encode())
    assert ignore_reason(parse_email(raw), OURS) is reason


def test_auto_submitted_no_and_ordinary_precedence_are_a_person_writing() -> None:
    assert ignore_reason(parse_email(mail("Auto-Submitted: no", "Precedence: first-class")), OURS) is None


def test_our_own_message_id_coming_back_is_a_loop() -> None:
    raw = mail().replace(b"<m1@mail.example.com>", b"<msg_9@Replies.Shop.Example>")
    assert ignore_reason(parse_email(raw), OURS) is IgnoreReason.OWN_MESSAGE


def test_a_delivery_report_is_a_bounce() -> None:
    raw = mail(body="--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R--\r\n").replace(
        b"Content-Type: text/plain; charset=utf-8", b'Content-Type: multipart/report; boundary="R"'
    )
    assert ignore_reason(parse_email(raw), OURS) is IgnoreReason.DELIVERY_REPORT


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"no headers at all, just words"])
def test_what_is_not_an_email_is_refused_with_a_code(raw: bytes) -> None:
    with pytest.raises(EmailRefused) as refused:
        parse_email(raw)
    assert refused.value.code == "unparseable_email"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_read_or_refused_never_raise_otherwise(raw: bytes) -> None:
    code: str | None
    try:
        parsed = parse_email(raw)
    except EmailRefused as refused:
        code = refused.code
    else:
        code = None
    if code is not None:
        assert code == "unparseable_email"
        return
    assert "\x00" not in parsed.text + parsed.subject
    assert parsed.text
    ignore_reason(parsed, OURS)


HEADER_NAMES = st.sampled_from(
    ["From", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type", "Auto-Submitted", "To"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HEADER_NAMES, st.text(max_size=80)), max_size=8), st.text(max_size=300))
def test_arbitrary_headers_and_text_are_read_or_refused(headers: list[tuple[str, str]], body: str) -> None:
    raw = ("\r\n".join(f"{k}: {v}" for k, v in headers) + "\r\n\r\n" + body).encode("utf-8", "surrogatepass")
    try:
        parsed = parse_email(raw)
    except EmailRefused:
        return
    assert all(i.startswith("<") and i.endswith(">") for i in (*parsed.in_reply_to, *parsed.references))
    assert len(parsed.subject) <= 500
