"""The offline grammar checker's first layer: the curriculum's detection patterns.

Each grammar point in a curriculum can carry patterns (a regular expression
for a common learner mistake, its correction template, an error category and
a note in each explanation language). :class:`PatternRules` runs them over a
learner's text and returns typed :class:`ErrorEvent` findings, leftmost
first, never two on overlapping text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agents.curriculum import Curriculum


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """One mistake in a learner's text: what, where, the fix, and who found it."""

    category: str
    start: int
    end: int
    wrong: str
    correction: str
    note: str
    source: str  # rules | model | scorer
    rule: str  # the grammar point (or check) that found it


@dataclass(frozen=True, slots=True)
class _Rule:
    grammar_id: str
    regex: re.Pattern[str]
    replacement: str
    category: str
    notes: dict[str, str]


class PatternRules:
    """Every detection pattern of one curriculum, compiled once."""

    def __init__(self, curriculum: Curriculum) -> None:
        self.language = curriculum.target_language
        self._rules = [
            _Rule(
                point.id,
                re.compile(pattern.match, re.IGNORECASE),
                pattern.correction,
                pattern.category,
                dict(pattern.note),
            )
            for unit in curriculum.units()
            for point in unit.grammar
            for pattern in point.patterns
        ]

    def __len__(self) -> int:
        return len(self._rules)

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        """The mistakes the patterns find in ``text`` (NFC), leftmost first, none overlapping."""
        text = unicodedata.normalize("NFC", text)
        found: list[ErrorEvent] = []
        for rule in self._rules:
            for match in rule.regex.finditer(text):
                if match.end() == match.start():
                    continue
                correction = match.expand(rule.replacement)
                if correction.casefold() == match.group(0).casefold():
                    continue
                note = rule.notes.get(explanation_language) or next(iter(rule.notes.values()), "")
                found.append(
                    ErrorEvent(
                        rule.category,
                        match.start(),
                        match.end(),
                        match.group(0),
                        _keep_case(match.group(0), correction),
                        note,
                        "rules",
                        rule.grammar_id,
                    )
                )
        found.sort(key=lambda event: (event.start, -(event.end - event.start)))
        kept: list[ErrorEvent] = []
        for event in found:
            if not kept or event.start >= kept[-1].end:
                kept.append(event)
        return kept


def _keep_case(original: str, correction: str) -> str:
    """A sentence-initial capital in the learner's text stays capitalised in the fix."""
    if original[:1].isupper() and correction[:1].islower():
        return correction[:1].upper() + correction[1:]
    return correction


#: Feminine nouns that take "el"/"un" in the singular (stressed initial a- or ha-).
_STRESSED_A = frozenset(
    "agua águila alma ama área arma aula ave hacha hada hambre haba habla ancla".split()
)
_ARTICLE = re.compile(r"\b(el|la|un|una|al|del)\s+(\w+)\b", re.IGNORECASE)
_FOR_GENDER = {
    ("el", "f"): "la",
    ("un", "f"): "una",
    ("al", "f"): "a la",
    ("del", "f"): "de la",
    ("la", "m"): "el",
    ("una", "m"): "un",
}
_NOTES = {
    "f": {"en": "{noun} is feminine: {fix} {noun}.", "es": "{noun} es femenino: {fix} {noun}."},
    "m": {"en": "{noun} is masculine: {fix} {noun}.", "es": "{noun} es masculino: {fix} {noun}."},
}


class ArticleAgreement:
    """Spanish article-noun gender agreement from the curriculum lexicon (el/la, un/una, al/del).

    Only nouns the lexicon knows are checked, so a word it has never seen is
    never flagged; "el agua" and its kin are correct.
    """

    def __init__(self, curriculum: Curriculum) -> None:
        self.active = curriculum.target_language == "es"
        self._gender = {
            item.lemma.casefold(): item.gender
            for unit in curriculum.units()
            for item in unit.vocabulary
            if item.pos == "noun" and item.gender is not None and " " not in item.lemma
        }

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        text = unicodedata.normalize("NFC", text)
        found = []
        for match in _ARTICLE.finditer(text):
            article, noun = match.group(1), match.group(2)
            gender = self._gender.get(noun.casefold())
            if gender is None or (gender == "f" and noun.casefold() in _STRESSED_A):
                continue
            fix = _FOR_GENDER.get((article.casefold(), gender))
            if fix is None:
                continue
            notes = _NOTES[gender]
            note = notes.get(explanation_language, notes["en"]).format(noun=noun, fix=fix)
            wrong = match.group(0)
            found.append(
                ErrorEvent(
                    "gender_agreement"
                    if article.casefold() not in ("al", "del")
                    else "article_contraction",
                    match.start(),
                    match.end(),
                    wrong,
                    _keep_case(wrong, f"{fix} {noun}"),
                    note,
                    "rules",
                    "article-agreement",
                )
            )
        return found


class RuleEngine:
    """All offline rule layers for one curriculum, merged without overlaps."""

    def __init__(self, curriculum: Curriculum) -> None:
        self._layers: list[PatternRules | ArticleAgreement] = [
            ArticleAgreement(curriculum),
            PatternRules(curriculum),
        ]

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        events = [e for layer in self._layers for e in layer.check(text, explanation_language)]
        events.sort(key=lambda event: (event.start, -(event.end - event.start)))
        kept: list[ErrorEvent] = []
        for event in events:
            if not kept or event.start >= kept[-1].end:
                kept.append(event)
        return kept
