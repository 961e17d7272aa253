"""The built-in Spanish checks as one rule-engine layer: run them in order, make events."""

from __future__ import annotations

import unicodedata

from agents.checks_es import agreement, articles, prenominal, prepositions, spelling, verbs
from agents.checks_es.sentence import NOTES, TEXT_ONLY, Check, Finding, Sentence
from agents.lexicon_es import analyser
from agents.rules import ErrorEvent, _keep_case

#: The checks in the order they run; findings on the same span keep this order.
CHECKS: tuple[Check, ...] = (
    agreement.determiner_noun,
    prenominal.todo_agreement,
    prenominal.prenominal_agreement,
    prenominal.phrase_agreement,
    agreement.adjective_agreement,
    agreement.predicate_agreement,
    verbs.ser_estar,
    prepositions.personal_a,
    prepositions.por_para,
    articles.liked_article,
    articles.subject_article,
    articles.place_article,
    spelling.accent,
    spelling.accent_in_context,
    verbs.subject_verb,
    verbs.gustar_subject,
)


class SpanishChecks:
    """The built-in Spanish checks as one rule-engine layer (active for target "es" only)."""

    def __init__(self, target_language: str) -> None:
        self.active = target_language == "es"

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        text = unicodedata.normalize("NFC", text)
        morphology = analyser()
        tokens = morphology.tokens(text) if morphology is not None else None
        sentence = Sentence(text, tokens or [])
        found: list[ErrorEvent] = []
        for function in CHECKS:
            if tokens is None and function not in TEXT_ONLY:
                continue
            for finding in function(sentence):
                found.append(_event(text, finding, explanation_language))
        found.sort(key=lambda event: (event.start, -(event.end - event.start)))
        return found


def _event(text: str, finding: Finding, explanation_language: str) -> ErrorEvent:
    wrong = text[finding.start : finding.end]
    correction = _keep_case(wrong, finding.correction)
    notes = NOTES[finding.rule]
    template = notes.get(explanation_language) or notes["en"]
    note = template.format(wrong=wrong, fix=correction, **dict(finding.fields))
    return ErrorEvent(
        finding.category,
        finding.start,
        finding.end,
        wrong,
        correction,
        note,
        "rules",
        finding.rule,
    )
