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
