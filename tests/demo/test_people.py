"""The demo's customers: names that read as names do in the shop's country, addresses made from them,
and the register that keeps the demo's agents and customers to their own tickets and surveys."""

from __future__ import annotations

import random
import unicodedata
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from demo.contacts import ContactMix, compose
from demo.journeys import customer_for
from demo.people import OwnCustomers, transliterate

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ADJECTIVAL = {"male": ("ski", "cki", "dzki"), "female": ("ska", "cka", "dzka")}
"""Polish surnames that change with their bearer's gender (Kowalski, Kowalska), by those endings."""


def plain(text: str) -> str:
    """Independently of demo.people: ł has no decomposition, every other Polish letter loses its mark."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def polish_gender(first_name: str) -> str:
    # Polish women's first names end in -a (the pool holds no exception such as Kuba).
    return "female" if first_name.endswith("a") else "male"


@settings(max_examples=300)
@given(st.integers(0, 2**32), st.integers(1, 10**13), st.sampled_from(["pl", "en", "pl-PL"]))
def test_every_address_is_ascii_and_keeps_every_letter_of_the_name(seed: int, n: int, locale: str) -> None:
    customer = customer_for(random.Random(seed), n, locale)
    assert customer.email is not None
    assert customer.name is not None
    assert customer.email.isascii()
    first, last = customer.name.split(" ")
    assert customer.email == f"{plain(first)}.{plain(last)}.{n}@example.com".lower()


@settings(max_examples=300)
@given(st.integers(0, 2**32), st.integers(1, 10**6))
def test_every_polish_surname_agrees_with_its_first_names_gender(seed: int, n: int) -> None:
    customer = customer_for(random.Random(seed), n, "pl")
    assert customer.name is not None
    first, last = customer.name.split(" ")
    other = "male" if polish_gender(first) == "female" else "female"
    assert not last.endswith(ADJECTIVAL[other]), customer.name


def test_names_are_the_shops_countrys_and_both_genders_occur() -> None:
    polish = [customer_for(random.Random(s), s, "pl").name or "" for s in range(400)]
    english = [customer_for(random.Random(s), s, "en").name or "" for s in range(400)]
    assert {polish_gender(name.split()[0]) for name in polish} == {"male", "female"}
    assert any(name.split()[1].endswith("ska") for name in polish)
    assert any(name.split()[1].endswith("ski") for name in polish)
    assert any(not name.isascii() for name in polish)  # Wójcik, Łukasz: the transliteration is used
    assert all(name.isascii() for name in english)


def test_polish_letters_become_their_plain_latin_ones() -> None:
    assert transliterate("Wójcik") == "Wojcik"
    assert transliterate("Zieliński") == "Zielinski"
    assert transliterate("Łukasz Dąbrowski") == "Lukasz Dabrowski"
    assert transliterate("zażółć gęślą jaźń") == "zazolc gesla jazn"
    assert transliterate("ŻÓŁW ĆMA ŚNIEG ŹREBIĘ") == "ZOLW CMA SNIEG ZREBIE"


def view(**identities: str | None) -> dict[str, str | None]:
    """A ticket's or an invitation's customer as intake and survey show it."""
    return {
        "id": None,
        "email": None,
        "phone": None,
        "handle": None,
        "name": "x",
        "locale": "pl",
    } | identities


@settings(max_examples=100)
@given(st.integers(0, 2**32))
def test_the_register_owns_its_customers_on_every_channel_and_nobody_else(seed: int) -> None:
    rng = random.Random(seed)
    own = OwnCustomers()
    customer = customer_for(rng, 42, "pl")
    own.add_customer(customer)
    contacts = compose(rng, "demo-shop", customer, "delay", START, "r", order_id="o-1", mix=ContactMix())
    for scheduled in contacts:
        own.add_contact(scheduled.contact)
        c = scheduled.contact
        # intake's view of the ticket: what the contact said, and the customer id from the order
        ticket = view(
            id=customer.id, email=c.customer_email, phone=c.customer_phone, handle=c.customer_handle
        )
        assert own.owns(ticket)
    # an invitation or a follow-up ticket intake opened: the order's customer
    assert own.owns(view(id=customer.id, email=customer.email))
    assert own.owns(view(id=customer.id, email=customer.email.upper() if customer.email else None))
    # somebody writing by hand about a demo order: intake knows the order's customer id, but the
    # address is theirs, so the ticket is theirs
    assert not own.owns(view(id=customer.id, email="anna@example.com"))
    assert not own.owns(view(email="anna@example.com"))
    assert not own.owns(view(phone="+48 600 100 200"))
    assert not own.owns(view())  # nobody named at all is nobody the demo knows
