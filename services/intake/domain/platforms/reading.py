"""Reading a platform's JSON payload: every accessor names the field it could not read, so a delivery
kept as a dead letter says exactly why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from schemas.v1.common import Customer


class Unmappable(ValueError):
    """A delivery CareLoop cannot turn into order events; `reason` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Unmappable(f"{where}: expected an object")
    return value


def items(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Unmappable(f"{where}: expected a list")
    return value


def storable(value: str, where: str) -> str:
    """`value` if Postgres can store it as text: no NUL, no lone surrogate (JSON can escape both)."""
    if "\x00" in value:
        raise Unmappable(f"{where}: contains a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise Unmappable(f"{where}: not valid Unicode text") from None
    return value


def ident(doc: Mapping[str, Any], key: str, where: str) -> str:
    """An id the platform sends as a number or a string, as CareLoop's string."""
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise Unmappable(f"{where}.{key}: expected an id, got {_kind(value)}")
    return storable(str(value).strip(), f"{where}.{key}")


def text(doc: Mapping[str, Any], key: str, limit: int = 500) -> str | None:
    """An optional text field, blank as absent, clipped to what CareLoop's schema keeps."""
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return storable(value.strip()[:limit], key)


def first_text(doc: Mapping[str, Any], key: str, where: str, limit: int = 500) -> str | None:
    """The first non-blank text of the list `doc[key]`, clipped."""
    for value in items(doc.get(key), f"{where}.{key}"):
        if isinstance(value, str) and value.strip():
            return storable(value.strip()[:limit], f"{where}.{key}")
    return None


def money(doc: Mapping[str, Any], key: str, where: str) -> Decimal:
    """An amount the platforms send as a decimal string ("19.99", WooCommerce refunds "-10.00")."""
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Unmappable(f"{where}.{key}: expected an amount, got {_kind(value)}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Unmappable(f"{where}.{key}: not an amount: {str(value)[:40]!r}") from None
    if not amount.is_finite():
        raise Unmappable(f"{where}.{key}: not an amount: {str(value)[:40]!r}")
    return amount


def instant(value: Any, where: str, zone: tzinfo = UTC) -> datetime:
    """An ISO 8601 instant; one without an offset is read in `zone` (WooCommerce's `*_gmt` are UTC)."""
    if not isinstance(value, str):
        raise Unmappable(f"{where}: expected a timestamp, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Unmappable(f"{where}: not a timestamp: {value[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def optional_instant(doc: Mapping[str, Any], key: str, where: str, zone: tzinfo = UTC) -> datetime | None:
    value = doc.get(key)
    if value is None or value == "":
        return None
    return instant(value, f"{where}.{key}", zone)


def customer(
    customer_id: str, email: str | None, phone: str | None, name: str | None, locale: str
) -> Customer:
    """CareLoop's customer, or the reason the platform's one is not one (a malformed e-mail, say)."""
    try:
        return Customer(
            id=customer_id[:128],
            email=email,
            phone=phone[:32] if phone else None,
            name=name[:200] if name else None,
            locale=locale[:35],
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "customer"
        raise Unmappable(f"customer {where}: {problem['msg']}") from None


def full_name(*parts: str | None) -> str | None:
    joined = " ".join(p.strip() for p in parts if p and p.strip())
    return joined or None


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
