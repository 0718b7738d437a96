"""The template language of the messages CareLoop writes to customers, which shops may override:
Jinja in its sandbox (no attribute tricks, no code execution), without autoescaping because the output
is plain text for e-mail, SMS or chat, not HTML.

A contract with the shops like the events are: what a shop may write in a template is checked here
(`template_problem`) by every service that takes one (notify's message templates, intake's automatic
answers), and rendered the same way everywhere. Pure: no I/O, so domains use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

LANGUAGES = ("pl", "en")
"""The languages CareLoop's own default messages are written in."""
MAX_TEMPLATE_CHARS = 10_000

_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False)


@dataclass(frozen=True)
class MessageTemplate:
    subject: str
    text: str


def language(customer_locale: str | None, shop_locale: str | None) -> str:
    """The first shipped language among the customer's locale, then the shop's; English otherwise."""
    for locale in (customer_locale, shop_locale):
        if locale:
            primary = locale.replace("_", "-").split("-")[0].lower()
            if primary in LANGUAGES:
                return primary
    return "en"


def template_problem(source: str) -> str | None:
    """Why `source` cannot be a shop template (None if it compiles within the size limit)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"template longer than {MAX_TEMPLATE_CHARS} characters"
    try:
        _env.parse(source)
    except TemplateError as exc:
        return f"template syntax error: {exc}"
    return None


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # Compiling costs far more than rendering; the same few sources render for every message.
    return _env.from_string(source)


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """`source` rendered in the sandbox, surrounding whitespace stripped. Raises what the template
    raises (an undefined name, a sandbox refusal): the caller decides what falls back."""
    return _compiled(source).render(context).strip()


def render(template: MessageTemplate, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject on one line, text) of `template`."""
    subject = _compiled(template.subject).render(context)
    return " ".join(subject.split()), render_text(template.text, context)
