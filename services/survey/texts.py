"""The answer page's words, in the shipped languages (Polish and English)."""

from __future__ import annotations

from services.survey.domain.kinds import SurveyKind

QUESTIONS: dict[str, dict[SurveyKind, str]] = {
    "en": {
        SurveyKind.NPS: "How likely are you to recommend {shop} to a friend or colleague?",
        SurveyKind.CSAT: "How satisfied are you with the help you got from {shop}?",
        SurveyKind.CES: "How easy was it to get your return or repair handled by {shop}?",
    },
    "pl": {
        SurveyKind.NPS: "Jak prawdopodobne jest, że polecisz {shop} znajomemu lub współpracownikowi?",
        SurveyKind.CSAT: "Jak bardzo jesteś zadowolona/zadowolony z pomocy od {shop}?",
        SurveyKind.CES: "Jak łatwo było załatwić zwrot lub naprawę w {shop}?",
    },
}

ANCHORS: dict[str, dict[SurveyKind, tuple[str, str]]] = {
    "en": {
        SurveyKind.NPS: ("not at all likely", "extremely likely"),
        SurveyKind.CSAT: ("very dissatisfied", "very satisfied"),
        SurveyKind.CES: ("very difficult", "very easy"),
    },
    "pl": {
        SurveyKind.NPS: ("zdecydowanie nie", "zdecydowanie tak"),
        SurveyKind.CSAT: ("bardzo niezadowolona/y", "bardzo zadowolona/y"),
        SurveyKind.CES: ("bardzo trudno", "bardzo łatwo"),
    },
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your opinion",
        "speed": "Speed of the help (optional)",
        "accuracy": "Accuracy and completeness of the answer (optional)",
        "sub_anchors": "1 = very poor, 5 = excellent",
        "comment": "Anything you would like to tell us? (optional)",
        "submit": "Send my answer",
        "choose_score": "Please choose a score.",
        "thanks_title": "Thank you!",
        "thanks_body": "Your answer has been recorded. It helps {shop} get better.",
        "answered_title": "This survey has already been answered",
        "answered_body": "Thank you, we already have your answer. Each link can be used once.",
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
        "sub_anchors": "1 = bardzo słabo, 5 = doskonale",
        "comment": "Chcesz nam coś przekazać? (opcjonalnie)",
        "submit": "Wyślij odpowiedź",
        "choose_score": "Wybierz ocenę.",
        "thanks_title": "Dziękujemy!",
        "thanks_body": "Twoja odpowiedź została zapisana. Dzięki niej {shop} może działać lepiej.",
        "answered_title": "Ta ankieta została już wypełniona",
        "answered_body": "Dziękujemy, mamy już Twoją odpowiedź. Każdego linku można użyć raz.",
        "expired_title": "Link do ankiety wygasł",
        "expired_body": "Dziękujemy za chęć udziału. Ten link nie jest już ważny.",
        "unknown_title": "Nie znaleźliśmy tej ankiety",
        "unknown_body": "Link może być niekompletny. Otwórz go ponownie z otrzymanej wiadomości.",
        "scale_label": "{low} = {low_text}, {high} = {high_text}",
    },
}
