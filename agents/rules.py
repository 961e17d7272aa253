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
