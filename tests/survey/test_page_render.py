"""The answer page's HTML without a server: escaping (property-tested), languages, scales."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runtime.shops import Shop, ShopRegistry
from services.survey import page
from services.survey.config import SurveyConfig
from services.survey.context import Context
from services.survey.domain.kinds import SurveyKind

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
