"""A reply as an e-mail (services/notify/domain/mail.py): its headers, its subject, and when a failed
send is tried again."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.mail import (
    GiveUp,
    OutgoingEmail,
    RetryAt,
    Sender,
    after_failure,
    compose,
    reply_subject,
)

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def outgoing(**fields: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "to_address": "anna@example.com",
        "to_name": "Anna Kowalska",
        "subject": "Re: Order 77",
        "text": "Dzień dobry, paczka wyjechała dziś.",
        "message_id": "<msg_1@replies.shop.example>",
        "in_reply_to": "<c2@mail.example.com>",
        "references": ("<c1@mail.example.com>", "<c2@mail.example.com>"),
        "automatic": False,
        "written_at": AT,
    }
    return OutgoingEmail(**(values | fields))  # type: ignore[arg-type]


def parsed(mail: OutgoingEmail) -> email.message.EmailMessage:
    raw = compose(mail, Sender("help@shop.example", "Shop care")).as_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_the_email_carries_the_threading_headers_and_the_text() -> None:
    message = parsed(outgoing())
    assert message["Message-ID"] == "<msg_1@replies.shop.example>"
    assert message["In-Reply-To"] == "<c2@mail.example.com>"
    assert message["References"] == "<c1@mail.example.com> <c2@mail.example.com>"
    assert str(message["From"]) == "Shop care <help@shop.example>"
    assert str(message["To"]) == "Anna Kowalska <anna@example.com>"
    assert message["Subject"] == "Re: Order 77"
    assert message["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert "Auto-Submitted" not in message
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Dzień dobry, paczka wyjechała dziś."


def test_a_first_reply_without_parent_has_no_in_reply_to() -> None:
    message = parsed(outgoing(in_reply_to=None, references=()))
    assert "In-Reply-To" not in message
    assert "References" not in message


def test_an_automatic_answer_says_so() -> None:
    assert parsed(outgoing(automatic=True))["Auto-Submitted"] == "auto-replied"


def test_the_subject_answers_once() -> None:
    assert reply_subject("Order 77") == "Re: Order 77"
    assert reply_subject("RE: Order 77") == "RE: Order 77"
    assert reply_subject("") == "Re: your message"
    assert reply_subject("Order\r\nBcc: everyone@example.com") == "Re: Order Bcc: everyone@example.com"


@given(st.text(max_size=200), st.text(max_size=100))
def test_no_text_can_add_a_header(subject: str, name: str) -> None:
    message = parsed(outgoing(subject=reply_subject(subject), to_name=name))
    assert message.get_all("Bcc") is None
    assert len(message.get_all("Subject") or []) == 1
    assert len(message.get_all("To") or []) == 1


def test_temporary_failures_follow_the_schedule_then_give_up() -> None:
    schedule = (0.0, 5.0, 300.0)
    assert after_failure(False, 1, schedule, 0.0, 0.5, AT) == RetryAt(AT + timedelta(seconds=5))
    assert after_failure(False, 2, schedule, 0.0, 0.5, AT) == RetryAt(AT + timedelta(seconds=300))
    assert after_failure(False, 3, schedule, 0.0, 0.5, AT) == GiveUp(3)


def test_a_permanent_refusal_gives_up_at_once() -> None:
    assert after_failure(True, 1, (0.0, 5.0, 300.0), 0.0, 0.5, AT) == GiveUp(1)
