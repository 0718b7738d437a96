"""The pure side of privacy requests (runtime/privacy.py): identities an event names, scrubbing every
event type's personal fields (the result still validates, and no e-mail, name or text is left), the
pseudonyms that keep grouping, and exports cut into events and put back together."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.privacy import (
    ERASED,
    IdentityKind,
    Subject,
    chunked,
    contact_pseudonym,
    counts_of,
    digest,
    event_digests,
    identities_of,
    jsonable,
    merged,
    pseudonym,
    scrub,
)
from schemas.v1.common import Customer
from schemas.v1.contacts import ContactReceived
from schemas.v1.orders import OrderCreated
from schemas.v1.privacy import PrivacyKind, PrivacyRequested, PrivacyScope
from schemas.v1.surveys import SurveyDetractor
from schemas.v1.tickets import ReplyContact, TicketReplied

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHOP = "shop-a"

names = st.text(st.characters(min_codepoint=65, max_codepoint=122, categories=["L"]), min_size=6, max_size=20)
texts = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, categories=["L", "N", "Zs"]), min_size=8)


def _order(email: str, name: str) -> OrderCreated:
    who = Customer(id="c-42", email=email, phone="+48 600 100 200", name=name, locale="pl-PL")
    return OrderCreated(shop_id=SHOP, order_id="o-1", customer=who, total=Decimal("10.00"), currency="PLN")


def _contact(email: str, name: str, body: str) -> ContactReceived:
    return ContactReceived(
        shop_id=SHOP,
        channel="email",
        customer_email=email,
        customer_name=name,
        subject=f"about {body}",
        body=body,
        attachments=[{"filename": f"{name}.pdf", "content_type": "application/pdf", "size_bytes": 10}],
    )


def _replied(email: str, name: str, body: str) -> TicketReplied:
    return TicketReplied(
        shop_id=SHOP,
        ticket_id="tkt_1",
        customer_id="c-42",
        customer_email=email,
        channel="email",
        category="other",
        priority="normal",
        message_id="msg_1",
        author="agent",
        text=f"Dear {name}, {body}",
        subject=body,
        contact=ReplyContact(email=email, name=name, thread_id="th-1"),
        at=AT,
    )


def _detractor(email: str, name: str, body: str) -> SurveyDetractor:
    who = Customer(id="c-42", email=email, name=name)
    return SurveyDetractor(
        shop_id=SHOP, survey_id="s-1", kind="nps", score=2, comment=body, customer=who, at=AT
    )


def test_identities_of_read_every_place_an_event_names_a_customer() -> None:
    order = _order("Anna.Nowak@Example.com", "Anna Nowak")
    assert identities_of(order) == [
        (IdentityKind.ORDER, "o-1"),
        (IdentityKind.CUSTOMER, "c-42"),
        (IdentityKind.EMAIL, "anna.nowak@example.com"),
        (IdentityKind.PHONE, "48600100200"),
    ]
    replied = _replied("anna@example.com", "Anna", "hello there")
    assert set(identities_of(replied)) == {
        (IdentityKind.CUSTOMER, "c-42"),
        (IdentityKind.EMAIL, "anna@example.com"),
        (IdentityKind.TICKET, "tkt_1"),
    }
    # a mapping (a stored webhook body's data) is read the same way as the model
    assert identities_of(replied.model_dump(mode="json")) == identities_of(replied)
    assert event_digests(SHOP, order)[0] == digest(SHOP, IdentityKind.SHOP, SHOP)


@settings(max_examples=40, deadline=None)
@given(local=names, name=names, body=texts)
def test_scrubbing_leaves_valid_events_without_their_e_mail_name_or_text(
    local: str, name: str, body: str
) -> None:
    email = f"{local.lower()}@example.com"
    for data in (
        _order(email, name),
        _contact(email, name, body),
        _replied(email, name, body),
        _detractor(email, name, body),
    ):
        clean = type(data).model_validate(scrub(data.model_dump(mode="json"), SHOP))
        text = clean.model_dump_json()
        assert email not in text.lower()
        assert name not in text
        assert body not in text
        assert "c-42" not in text


def test_a_scrubbed_contact_still_names_someone_and_groups_with_the_same_customer() -> None:
    first = _contact("Anna@Example.com", "Anna", "where is my parcel")
    second = _contact("anna@example.com", "A.", "still nothing")
    one = ContactReceived.model_validate(scrub(first.model_dump(mode="json"), SHOP))
    two = ContactReceived.model_validate(scrub(second.model_dump(mode="json"), SHOP))
    assert one.customer_email is None
    assert one.customer_name is None
    assert one.body == ERASED
    assert one.subject == ERASED
    assert one.attachments == []
    assert (
        one.customer_handle
        == two.customer_handle
        == contact_pseudonym(SHOP, {"customer_email": "anna@example.com"})
    )
    # scrubbing again changes nothing: a redelivered scrubbed event stays the same
    assert ContactReceived.model_validate(scrub(one.model_dump(mode="json"), SHOP)) == one


def test_pseudonyms_are_stable_per_shop_and_never_pseudonymised_twice() -> None:
    erased = pseudonym(SHOP, "c-42")
    assert erased == pseudonym(SHOP, "c-42") != pseudonym("shop-b", "c-42")
    assert erased.startswith("erased:")
    assert "c-42" not in erased
    assert pseudonym(SHOP, erased) == erased


def test_a_subject_normalises_the_request_and_names_every_identity() -> None:
    request = PrivacyRequested(
        request_id="prv_1",
        shop_id=SHOP,
        kind=PrivacyKind.ERASURE,
        customer_ids=["c-42", " c-42 "],
        emails=["Anna@Example.com"],
        phones=["+48 600-100-200"],
        order_ids=["o-1"],
        ticket_ids=["tkt_1"],
        requested_at=AT,
    )
    subject = Subject.of(request)
    assert subject.customer_ids == ("c-42",)
    assert subject.emails == ("anna@example.com",)
    assert subject.phones == ("48600100200",)
    assert not subject.whole_shop
    assert len(subject.digests()) == 5
    # an event naming any of the identities has one of the subject's digests
    assert set(event_digests(SHOP, _order("anna@example.com", "Anna"))) & set(subject.digests())
    shop_wide = Subject.of(request.model_copy(update={"scope": PrivacyScope.SHOP}))
    assert digest(SHOP, IdentityKind.SHOP, SHOP) in shop_wide.digests()


rows = st.lists(st.fixed_dictionaries({"id": st.integers(), "text": st.text(max_size=300)}), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    export=st.dictionaries(st.sampled_from(["tickets", "messages", "orders"]), rows),
    budget=st.integers(50, 2000),
)
def test_an_export_cut_into_parts_is_put_back_together_whole(
    export: dict[str, list[dict[str, Any]]], budget: int
) -> None:
    parts = chunked(export, budget)
    assert merged(parts) == dict(export.items())
    assert counts_of(merged(parts)) == counts_of(export)
    for part in parts:
        sizes = [
            len(json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode())
            for rs in part.values()
            for r in rs
        ]
        assert len(sizes) <= 1 or sum(sizes) <= budget  # a part over the budget is one large row


def test_stored_values_become_json() -> None:
    value = {
        "at": AT,
        "day": date(2026, 3, 2),
        "total": Decimal("10.50"),
        "body": b'{"type": "order.created"}',
        "raw": b"\xffnot json",
        "list": (1, "a"),
    }
    assert jsonable(value) == {
        "at": "2026-03-02T09:00:00+00:00",
        "day": "2026-03-02",
        "total": "10.50",
        "body": {"type": "order.created"},
        "raw": "\ufffdnot json",
        "list": [1, "a"],
    }
