"""Who a message is from, reduced to one comparable key per shop."""

from __future__ import annotations

import re

_NOT_DIGITS = re.compile(r"[^0-9]")


class NoCustomerIdentity(ValueError):
    pass


def customer_key(email: str | None, phone: str | None, handle: str | None) -> str:
    """E-mail beats phone beats handle: an e-mail is the identity a shop's orders also carry."""
    if email and email.strip():
        return "email:" + email.strip().casefold()
    if phone and (digits := _NOT_DIGITS.sub("", phone)):
        return "phone:" + digits
    if handle and handle.strip():
        return "handle:" + handle.strip().lstrip("@").casefold()
    raise NoCustomerIdentity("a contact needs an e-mail, phone or handle")


def thread_key(channel: str, thread_id: str | None) -> str | None:
    """Thread ids are only unique within their channel's gateway (Message-ID, chat session)."""
    if thread_id is None or not thread_id.strip():
        return None
    return f"{channel}:{thread_id.strip()}"


def known_customer_key(customer_id: str, email: str | None, phone: str | None) -> str:
    """A customer intake writes to on its own (an unhappy survey answer, a broken promise): by e-mail
    or phone like their contacts, so their next message joins the ticket; else by the shop's id."""
    try:
        return customer_key(email, phone, None)
    except NoCustomerIdentity:
        return f"customer:{customer_id}"


def contact_locale(said: str | None, from_order: str | None, shop_locale: str | None, default: str) -> str:
    """The language to write to the customer in: the contact's own if it said one; else the one the
    shop knows from the order; else the shop's. Notify and survey write in it."""
    for locale in (said, from_order, shop_locale):
        if locale is not None:
            return locale
    return default
