"""The demo shop's customers: names as people in the shop's country have them, e-mail addresses made
from those names, and the register of every customer the demo made up, so that its agents and
customers act on their own tickets and surveys only (never on one a person created by hand).

Pure: a seeded random generator in, customers out; the register is plain bookkeeping.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.v1.common import Customer
from schemas.v1.contacts import ContactReceived

EMAIL_DOMAIN = "example.com"

# Polish surnames as (a man's form, a woman's form): -ski/-ska, -cki/-cka, -dzki/-dzka change with
# the bearer, the rest (Nowak, Wójcik) do not.
POLISH_SURNAMES: tuple[tuple[str, str], ...] = (
    ("Nowak", "Nowak"),
    ("Kowalski", "Kowalska"),
    ("Wiśniewski", "Wiśniewska"),
    ("Wójcik", "Wójcik"),
    ("Kowalczyk", "Kowalczyk"),
    ("Kamiński", "Kamińska"),
    ("Lewandowski", "Lewandowska"),
    ("Zieliński", "Zielińska"),
    ("Woźniak", "Woźniak"),
    ("Dąbrowski", "Dąbrowska"),
    ("Nowicki", "Nowicka"),
    ("Zawadzki", "Zawadzka"),
    ("Jabłoński", "Jabłońska"),
    ("Krawczyk", "Krawczyk"),
    ("Węgrzyn", "Węgrzyn"),
    ("Łuczak", "Łuczak"),
    ("Górecki", "Górecka"),
    ("Żak", "Żak"),
    ("Ćwikliński", "Ćwiklińska"),
    ("Zając", "Zając"),
)
POLISH_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "female": ("Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Magdalena", "Zofia", "Joanna", "Jadwiga"),
    "male": ("Piotr", "Tomasz", "Łukasz", "Paweł", "Michał", "Grzegorz", "Marek", "Jan"),
}
ENGLISH_SURNAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas")
ENGLISH_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "female": ("Emily", "Olivia", "Sophie", "Charlotte", "Amelia", "Grace"),
    "male": ("Oliver", "James", "Harry", "George", "Jack", "Thomas"),
}

# Letters an address cannot carry, as a Pole writes them without diacritics.
POLISH_LETTERS = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def transliterate(text: str) -> str:
    """`Wójcik` → `Wojcik`: Polish letters as their plain Latin ones."""
    return text.translate(POLISH_LETTERS)


def full_name(rng: random.Random, locale: str) -> tuple[str, str]:
    """(first name, surname) in the customer's language, the surname in the first name's gender."""
    gender = rng.choice(("female", "male"))
    if locale.split("-")[0] == "pl":
        first = rng.choice(POLISH_FIRST_NAMES[gender])
        masculine, feminine = rng.choice(POLISH_SURNAMES)
        return first, feminine if gender == "female" else masculine
    return rng.choice(ENGLISH_FIRST_NAMES[gender]), rng.choice(ENGLISH_SURNAMES)


def email_for(first: str, last: str, n: int) -> str:
    return f"{transliterate(first)}.{transliterate(last)}.{n}@{EMAIL_DOMAIN}".lower()


def make_customer(rng: random.Random, n: int, locale: str) -> Customer:
    first, last = full_name(rng, locale)
    return Customer(
        id=f"cust-{n:06d}", email=email_for(first, last, n), name=f"{first} {last}", locale=locale
    )


def phone_of(customer: Customer) -> str:
    """The number a customer calls from: theirs if the shop knows it, else one fixed per customer."""
    return customer.phone or f"+4850{zlib.crc32(customer.id.encode()) % 10**7:07d}"


def handle_of(customer: Customer) -> str:
    return "@" + customer.id.replace("-", "_")


IDENTITIES = ("id", "email", "phone", "handle")
"""How a ticket, an invitation or a survey names its customer (intake's and survey's customer views)."""


@dataclass
class OwnCustomers:
    """Every identity of every customer the demo made up in this run. A ticket or a survey is the
    demo's when each identity it names is one of these: a person's own ticket about a demo order
    names their own e-mail address as well, and stays theirs."""

    known: set[str] = field(default_factory=set)

    def add_customer(self, customer: Customer) -> None:
        self.known.update(v.casefold() for v in (customer.id, customer.email, customer.phone) if v)

    def add_contact(self, contact: ContactReceived) -> None:
        identities = (contact.customer_email, contact.customer_phone, contact.customer_handle)
        self.known.update(v.casefold() for v in identities if v)

    def owns(self, who: Mapping[str, Any]) -> bool:
        named = [str(who[k]).casefold() for k in IDENTITIES if who.get(k)]
        return bool(named) and all(v in self.known for v in named)
