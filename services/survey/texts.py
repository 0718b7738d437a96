"""The answer page's words, in the shipped languages (Polish and English).

No text puts the shop's name inside a sentence: Polish would need it declined ("od Sklepu Demo"),
which cannot be done for an arbitrary name. The pages show the name on its own above the card, in the
nominative, and the sentences speak as the shop ("nas", "us").
"""

from __future__ import annotations

import re

from services.survey.domain.kinds import SurveyKind

_SINGLE_LETTER_WORD = re.compile(r"(?<!\S)([aiouwzAIOUWZ]) ")


def tie_single_letters(text: str) -> str:
    """Polish typesetting keeps a one-letter word (a, i, o, u, w, z) on the line of the word after it:
    a no-break space instead of the space, so no line of the page ends with "z" or "w"."""
    return _SINGLE_LETTER_WORD.sub("\\1\u00a0", text)


QUESTIONS: dict[str, dict[SurveyKind, str]] = {
    "en": {
        SurveyKind.NPS: "How likely are you to recommend us to a friend or colleague?",
        SurveyKind.CSAT: "How satisfied are you with the help we gave you?",
        SurveyKind.CES: "How easy was it to get your return or repair handled?",
    },
    "pl": {
        SurveyKind.NPS: "Jak prawdopodobne jest, że polecisz nas znajomemu lub współpracownikowi?",
        SurveyKind.CSAT: "Jak oceniasz naszą pomoc w Twojej sprawie?",
        SurveyKind.CES: "Jak łatwo było załatwić u nas zwrot lub reklamację?",
    },
}

ANCHORS: dict[str, dict[SurveyKind, tuple[str, str]]] = {
    "en": {
        SurveyKind.NPS: ("not at all likely", "extremely likely"),
        SurveyKind.CSAT: ("very dissatisfied", "very satisfied"),
        SurveyKind.CES: ("very difficult", "very easy"),
    },
    "pl": {
        SurveyKind.NPS: ("na pewno nie polecę", "na pewno polecę"),
        SurveyKind.CSAT: ("bardzo źle", "bardzo dobrze"),
        SurveyKind.CES: ("bardzo trudno", "bardzo łatwo"),
    },
}

SUB_ANCHORS: dict[str, tuple[str, str]] = {
    "en": ("very poor", "excellent"),
    "pl": ("bardzo słabo", "doskonale"),
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your opinion",
        "speed": "Speed of the help (optional)",
        "accuracy": "Accuracy and completeness of the answer (optional)",
        "comment": "Anything you would like to tell us? (optional)",
        "submit": "Send my answer",
        "choose_score": "Please choose a score.",
        "thanks_title": "Thank you!",
        "thanks_recorded": "Your answer has been recorded.",
        "thanks_next": "There is nothing else you need to do. Your feedback helps us do better.",
        "thanks_next_unhappy": (
            "We are sorry it did not go well this time. "
            "Our customer care team will get in touch with you to put it right."
        ),
        "back_to_shop": "Back to the shop",
        "answered_title": "This survey has already been answered",
        "answered_body": "Thank you, we already have your answer. Each link can be used only once.",
        "expired_title": "This survey link has expired",
        "expired_body": "Thank you for your interest. This link is no longer valid.",
        "unknown_title": "We could not find this survey",
        "unknown_body": "The link may be incomplete. Please open it again from the message you received.",
        "scale_label": "{low} = {low_text}, {high} = {high_text}",
    },
    "pl": {
        "title": "Twoja opinia",
        "speed": "Szybkość pomocy (opcjonalnie)",
        "accuracy": "Trafność i kompletność odpowiedzi (opcjonalnie)",
        "comment": "Chcesz nam coś przekazać? (opcjonalnie)",
        "submit": "Wyślij odpowiedź",
        "choose_score": "Wybierz ocenę.",
        "thanks_title": "Dziękujemy!",
        "thanks_recorded": "Twoja odpowiedź została zapisana.",
        "thanks_next": "Nie musisz nic więcej robić. Dzięki Twojej opinii możemy działać lepiej.",
        "thanks_next_unhappy": (
            "Przykro nam, że tym razem nie wszystko poszło dobrze. "
            "Nasz zespół obsługi klienta skontaktuje się z Tobą, żeby to wyjaśnić."
        ),
        "back_to_shop": "Wróć do sklepu",
        "answered_title": "Ta ankieta została już wypełniona",
        "answered_body": "Dziękujemy, mamy już Twoją odpowiedź. Każdego linku można użyć tylko raz.",
        "expired_title": "Link do ankiety wygasł",
        "expired_body": "Dziękujemy za chęć udziału. Ten link nie jest już ważny.",
        "unknown_title": "Nie znaleźliśmy tej ankiety",
        "unknown_body": "Link może być niekompletny. Otwórz go ponownie z otrzymanej wiadomości.",
        "scale_label": "{low} = {low_text}, {high} = {high_text}",
    },
}

# Polish typesetting, applied once to every Polish text above
QUESTIONS["pl"] = {kind: tie_single_letters(text) for kind, text in QUESTIONS["pl"].items()}
ANCHORS["pl"] = {
    kind: (tie_single_letters(lo), tie_single_letters(hi)) for kind, (lo, hi) in ANCHORS["pl"].items()
}
WORDS["pl"] = {key: tie_single_letters(text) for key, text in WORDS["pl"].items()}
