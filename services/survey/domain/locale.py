"""Which of the shipped page languages a customer gets."""

from __future__ import annotations

SHIPPED = ("pl", "en")
FALLBACK = "en"


def page_language(locale: str | None, shop_locale: str | None = None) -> str:
    for candidate in (locale, shop_locale):
        if candidate:
            language = candidate.replace("_", "-").split("-")[0].lower()
            if language in SHIPPED:
                return language
    return FALLBACK


def from_accept_language(header: str | None) -> str:
    """The first shipped language the browser lists (for pages that have no survey to go by)."""
    for part in (header or "").split(","):
        language = part.split(";")[0].strip().replace("_", "-").split("-")[0].lower()
        if language in SHIPPED:
            return language
    return FALLBACK
