"""The survey pages' HTML without a server: escaping (property-tested), languages, scales, the
texts in both languages (the shop's name never inside a sentence), the thank-you page."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.requests import Request

from runtime.shops import Shop, ShopRegistry
from services.survey import page
from services.survey.config import SurveyConfig
from services.survey.context import Context
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.tokens import TokenState
from services.survey.texts import ANCHORS, QUESTIONS, WORDS, tie_single_letters

CTX = Context(
    shops=ShopRegistry([Shop(id="shop-x", name="Sklep <Ala> & Kot", api_key_sha256="0" * 64)]),
    config=SurveyConfig(),
    topic="survey.events",
    public_base_url="http://127.0.0.1:8004",
    now=lambda: datetime(2026, 3, 2, tzinfo=UTC),
)


def invitation(kind: SurveyKind, locale: str = "en") -> dict[str, Any]:
    return {"kind": kind.value, "locale": locale, "shop_id": "shop-x"}


def body(response: Any) -> str:
    return bytes(response.body).decode()


@given(st.text(max_size=300))
def test_any_comment_is_shown_back_as_text_never_as_markup(comment: str) -> None:
    shown = body(page.form_page(invitation(SurveyKind.NPS), CTX, selected=None, comment=comment, error="x"))
    textarea = shown.split('name="comment"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    assert html.unescape(textarea) == comment
    assert "<" not in textarea
    assert ">" not in textarea


def test_shop_names_are_escaped_too() -> None:
    shown = body(page.form_page(invitation(SurveyKind.CSAT), CTX, selected=None))
    assert "Sklep &lt;Ala&gt; &amp; Kot" in shown
    assert "<Ala>" not in shown


def test_scales_and_sub_ratings_per_kind() -> None:
    nps = body(page.form_page(invitation(SurveyKind.NPS, "pl"), CTX, selected=9))
    assert nps.count('name="score"') == 11
    assert 'id="score-9" value="9" checked' in nps
    assert 'name="speed"' not in nps
    csat = body(page.form_page(invitation(SurveyKind.CSAT), CTX, selected=7))  # 7 is off the 1-5 scale
    assert csat.count('name="score"') == 5
    assert '" checked' not in csat
    assert csat.count('name="speed"') == 5
    assert csat.count('name="accuracy"') == 5
    ces = body(page.form_page(invitation(SurveyKind.CES), CTX, selected=1))
    assert ces.count('name="score"') == 7
    assert "1 = very difficult, 7 = very easy" in ces


def test_every_form_control_has_a_label_and_the_page_a_language() -> None:
    for kind in SurveyKind:
        for lang in ("pl", "en"):
            shown = body(page.form_page(invitation(kind, lang), CTX, selected=None))
            assert f'<html lang="{lang}">' in shown
            controls = re.findall(r'<(?:input|textarea)[^>]*\sid="([^"]+)"', shown)
            assert len(controls) >= 8
            for control in controls:
                assert f'for="{control}"' in shown
            assert "<fieldset" in shown
            assert "<legend>" in shown
            assert "<script" not in shown


# -- the shop's name, the texts in both languages, the thank-you page --------------------------

SITE = "https://sklep-demo.example/?from=survey&x=<1>"
SHOPS = ShopRegistry(
    [
        Shop(id="shop-x", name="Sklep <Ala> & Kot", api_key_sha256="0" * 64),
        Shop(id="shop-y", name="Sklep Demo", api_key_sha256="1" * 64, url=SITE),
    ]
)
SITE_CTX = replace(CTX, shops=SHOPS)

QUESTIONS_SHOWN = {
    ("pl", SurveyKind.NPS): "Jak prawdopodobne jest, że polecisz nas znajomemu lub współpracownikowi?",
    ("pl", SurveyKind.CSAT): "Jak oceniasz naszą pomoc w Twojej sprawie?",
    ("pl", SurveyKind.CES): "Jak łatwo było załatwić u nas zwrot lub reklamację?",
    ("en", SurveyKind.NPS): "How likely are you to recommend us to a friend or colleague?",
    ("en", SurveyKind.CSAT): "How satisfied are you with the help we gave you?",
    ("en", SurveyKind.CES): "How easy was it to get your return or repair handled?",
}
THANKS_SHOWN = {
    ("pl", False): [
        "Twoja odpowiedź została zapisana.",
        "Nie musisz nic więcej robić. Dzięki Twojej opinii możemy działać lepiej.",
    ],
    ("pl", True): [
        "Twoja odpowiedź została zapisana.",
        "Przykro nam, że tym razem nie wszystko poszło dobrze. "
        "Nasz zespół obsługi klienta skontaktuje się z Tobą, żeby to wyjaśnić.",
    ],
    ("en", False): [
        "Your answer has been recorded.",
        "There is nothing else you need to do. Your feedback helps us do better.",
    ],
    ("en", True): [
        "Your answer has been recorded.",
        "We are sorry it did not go well this time. "
        "Our customer care team will get in touch with you to put it right.",
    ],
}


def shown(fragment: str) -> str:
    """Text as a reader sees it: entities decoded, no-break spaces and line breaks as spaces."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).replace("\u00a0", " ").split())


def between(page_html: str, start: str, end: str) -> list[str]:
    return [shown(part) for part in re.findall(re.escape(start) + r"(.*?)" + re.escape(end), page_html, re.S)]


@pytest.mark.parametrize(("lang", "kind"), list(QUESTIONS_SHOWN))
def test_every_question_speaks_as_the_shop_whose_name_stands_alone(lang: str, kind: SurveyKind) -> None:
    response = page.form_page({**invitation(kind, lang), "shop_id": "shop-y"}, SITE_CTX, selected=None)
    shown_html = body(response)
    assert between(shown_html, "<legend><h1>", "</h1></legend>") == [QUESTIONS_SHOWN[(lang, kind)]]
    # the name only ever as itself: the page's header and the title's label, never inside a sentence
    assert between(shown_html, '<header class="brand"><p>', "</p></header>") == ["Sklep Demo"]
    assert between(shown_html, "<title>", "</title>") == [f"{WORDS[lang]['title']} | Sklep Demo"]
    assert shown_html.count("Sklep Demo") == 2


@given(st.text(min_size=1, max_size=40))
def test_any_shop_name_appears_only_as_the_header_and_the_title(name: str) -> None:
    marked = f"«{name}»"  # a name the page's own words cannot contain
    ctx = replace(CTX, shops=ShopRegistry([Shop(id="shop-x", name=marked, api_key_sha256="0" * 64)]))
    for lang in ("pl", "en"):
        for response in (
            page.form_page(invitation(SurveyKind.CSAT, lang), ctx, selected=None),
            page.thanks_page(invitation(SurveyKind.CSAT, lang), ctx, unhappy=True),
        ):
            assert body(response).count(str(markupsafe.escape(marked))) == 2


@pytest.mark.parametrize(("lang", "unhappy"), list(THANKS_SHOWN))
def test_the_thank_you_page_says_what_happens_next_and_links_back(lang: str, unhappy: bool) -> None:
    thanks = body(
        page.thanks_page({**invitation(SurveyKind.NPS, lang), "shop_id": "shop-y"}, SITE_CTX, unhappy=unhappy)
    )
    assert between(thanks, "<h1>", "</h1>") == [WORDS[lang]["thanks_title"]]
    assert between(thanks, "<p>", "</p>")[1:] == THANKS_SHOWN[(lang, unhappy)]  # after the header
    links = re.findall(r'<a class="button" href="([^"]*)" rel="noreferrer">([^<]*)</a>', thanks)
    assert [(html.unescape(href), text) for href, text in links] == [(SITE, WORDS[lang]["back_to_shop"])]


def test_without_a_site_there_is_no_link_and_an_unknown_link_names_no_shop() -> None:
    no_site = body(page.thanks_page(invitation(SurveyKind.NPS, "pl"), SITE_CTX, unhappy=False))
    assert "<a " not in no_site
    assert "Sklep &lt;Ala&gt; &amp; Kot" in no_site
    request = Request({"type": "http", "headers": [(b"accept-language", b"pl-PL,pl;q=0.9")]})
    answered = page.refusal_page(
        TokenState.ANSWERED, {**invitation(SurveyKind.NPS, "en"), "shop_id": "shop-y"}, request, SITE_CTX
    )
    assert answered.status_code == 410
    assert "Back to the shop</a>" in body(answered)
    unknown = page.refusal_page(TokenState.UNKNOWN, None, request, SITE_CTX)
    assert unknown.status_code == 404
    assert between(body(unknown), "<h1>", "</h1>") == ["Nie znaleźliśmy tej ankiety"]
    assert "<header" not in body(unknown)
    assert "<a " not in body(unknown)


def test_polish_lines_never_end_with_a_one_letter_word() -> None:
    polish = [*QUESTIONS["pl"].values(), *WORDS["pl"].values()]
    polish += [anchor for pair in ANCHORS["pl"].values() for anchor in pair]
    for text in polish:
        assert not re.search(r"(?<!\S)[aiouwzAIOUWZ] ", text), text
    assert tie_single_letters("z Tobą i w domu, a potem") == "z\u00a0Tobą i\u00a0w\u00a0domu, a\u00a0potem"


def test_no_text_is_left_with_a_placeholder() -> None:
    for lang in ("pl", "en"):
        for text in [*QUESTIONS[lang].values(), *WORDS[lang].values()]:
            assert "{shop" not in text
            assert "{" not in text or text == WORDS[lang]["scale_label"]


def test_the_pages_style_comes_only_from_the_services_own_stylesheet() -> None:
    for response in (
        page.form_page(invitation(SurveyKind.CSAT, "pl"), CTX, selected=None),
        page.thanks_page(invitation(SurveyKind.NPS, "en"), CTX, unhappy=False),
    ):
        shown_html = body(response)
        assert "<style" not in shown_html
        assert " style=" not in shown_html
        assert re.findall(r'<link rel="stylesheet" href="([^"]+)">', shown_html) == [page.STYLESHEET_HREF]
        policy = response.headers["content-security-policy"]
        assert "style-src 'self';" in policy
        assert "unsafe-inline" not in policy
    css = page.stylesheet()
    assert css.media_type == "text/css"
    assert bytes(css.body) == (Path(page.__file__).parent / "static" / "survey.css").read_bytes()
    assert page.STYLESHEET_HREF.startswith("static/survey.css?v=")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//shop.example", "https://a b"])
def test_a_shops_site_link_must_be_a_web_address(url: str) -> None:
    with pytest.raises(ValidationError):
        Shop(id="shop-z", name="Z", api_key_sha256="0" * 64, url=url)
