"""The built-in Spanish checks as one rule-engine layer: run them in order, make events."""

from __future__ import annotations

import unicodedata

from agents.checks_es import agreement, articles, prenominal, prepositions, spelling, verbs
from agents.checks_es.guess import guess_meant
from agents.checks_es.sentence import NOTES, TEXT_ONLY, Check, Finding, Sentence
from agents.lexicon_es import Token, analyser
from agents.rules import ErrorEvent, _keep_case
from tutor.text import without_surrogates

#: The checks in the order they run; findings on the same span keep this order.
CHECKS: tuple[Check, ...] = (
    agreement.determiner_noun,
    prenominal.todo_agreement,
    prenominal.prenominal_agreement,
    prenominal.phrase_agreement,
    prenominal.bare_prenominal,
    prenominal.part_agreement,
    prenominal.uno_before_noun,
    prenominal.todos_bare,
    prenominal.neuter_before_noun,
    agreement.adjective_agreement,
    agreement.predicate_agreement,
    agreement.referent_gender,
    agreement.counted_noun,
    verbs.ser_estar,
    prepositions.personal_a,
    prepositions.no_personal_a,
    prepositions.por_para,
    articles.liked_article,
    articles.subject_article,
    articles.place_article,
    articles.extra_article,
    articles.country_article,
    spelling.accent,
    spelling.accent_in_context,
    verbs.subject_verb,
    verbs.gustar_subject,
    verbs.liked_agreement,
)


#: The checks that look at the words as written; the others read a word missing its
#: accent, or mistyped, as the word it stands for ("su primero pelicula" -> "su primera
#: película", "muchas segidores" -> "muchos seguidores").
_ON_WHAT_WAS_WRITTEN = frozenset({spelling.accent, spelling.accent_in_context})


def _with_accents(sentence: Sentence) -> Sentence:
    """The sentence with each unknown word that lacks only an accent, or is one typing slip
    from a common word, read as that word (its offsets stay those of what was written);
    a real word the dictionary lacks gets the reading its ending tells (:mod:`.guess`)."""
    morphology = analyser()
    if morphology is None:
        return sentence
    tokens = list(sentence.tokens)
    changed = False
    for index, token in enumerate(tokens):
        fix = (
            spelling.accent_fix(sentence, index)
            or spelling.variant_fix(sentence, index)
            or spelling.typo_fix(sentence, index)
        )
        if fix is None:
            if token.known or not token.text.islower():
                continue
            meant, guessed = guess_meant(token.lower)
            if guessed:
                tokens[index] = Token(meant, token.start, token.end, guessed)
                changed = True
            continue
        analysed = morphology.tokens(fix) or []
        if len(analysed) != 1 or not analysed[0].known:
            continue
        if token.text[:1].isupper():
            fix = fix[:1].upper() + fix[1:]
        tokens[index] = Token(fix, token.start, token.end, analysed[0].readings)
        changed = True
    return Sentence(sentence.text, tokens) if changed else sentence


class SpanishChecks:
    """The built-in Spanish checks as one rule-engine layer (active for target "es" only)."""

    def __init__(self, target_language: str) -> None:
        self.active = target_language == "es"

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        # A lone surrogate (the chat page's JSON can carry one) cannot go down lt-proc's pipe.
        text = without_surrogates(unicodedata.normalize("NFC", text))
        morphology = analyser()
        tokens = morphology.tokens(text) if morphology is not None else None
        sentence = Sentence(text, tokens or [])
        repaired = _with_accents(sentence)
        found: list[ErrorEvent] = []
        for function in CHECKS:
            if tokens is None and function not in TEXT_ONLY:
                continue
            seen = sentence if function in _ON_WHAT_WAS_WRITTEN else repaired
            for finding in function(seen):
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
