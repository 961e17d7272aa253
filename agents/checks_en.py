"""Built-in English checks: mistakes Spanish speakers make that need no curriculum lexicon.

- ``en-a-an``: "a apple", "an house" — the article follows the *sound* of the
  next word, so the few spellings that start with a vowel letter but a
  consonant sound ("a university", "a one-way ticket") or with a silent h
  ("an hour", "an honest man") are known exceptions.
- ``en-double-comparative``: "more bigger", "most biggest" (calqued from "más
  grande"): a comparative or superlative form never takes more/most.

Findings carry notes in both explanation languages; the curriculum's own
patterns run first and win on the same span.
"""

from __future__ import annotations

import re
import unicodedata

from agents.rules import ErrorEvent, _keep_case

#: Vowel letters that are read as a consonant sound ("yu", "w") at the start of these.
_CONSONANT_SOUND = re.compile(
    r"^(?:uni(?![mn])|use|usu|uti|ura|eu|ewe|one\b|once|ouija|ufo|ukulele|uterus)",
    re.IGNORECASE,
)
#: Words that start with a silent h: "an hour".
_SILENT_H = re.compile(r"^(?:hour|honest|honou?r|heir)", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(?P<art>[Aa]n?)\s+(?P<word>[A-Za-z][a-z]+)\b")

_COMPARATIVES = frozenset(
    """better worse bigger smaller taller shorter older younger easier harder happier faster
    slower cheaper higher lower longer nicer larger hotter colder prettier richer poorer
    stronger weaker warmer cooler busier funnier healthier heavier lighter closer farther
    further later earlier newer louder quieter safer simpler thinner thicker wider cleaner
    darker brighter smarter""".split()
)
_SUPERLATIVES = frozenset(
    w[:-2] + "est" if w.endswith("er") else w
    for w in _COMPARATIVES
    if w not in ("better", "worse", "farther", "further")
) | {"best", "worst", "farthest", "furthest"}
_DOUBLE = re.compile(r"\b(?P<more>more|most)\s+(?P<adj>[a-z]+)\b", re.IGNORECASE)

NOTES = {
    "en-a-an": {
        "en": "Use an before a vowel sound and a before a consonant sound: {fix}.",
        "es": "Se usa an delante de sonido vocálico y a delante de sonido consonántico: {fix}.",
    },
    "en-double-comparative": {
        "en": "{adj} is already comparative: say {fix}, without {more}.",
        "es": "{adj} ya es comparativo: se dice {fix}, sin {more}.",
    },
}


def _needs_an(word: str) -> bool:
    if _SILENT_H.match(word):
        return True
    if _CONSONANT_SOUND.match(word):
        return False
    return word[0].casefold() in "aeiou"


class EnglishChecks:
    """The built-in English checks as one rule-engine layer (active for target "en" only)."""

    def __init__(self, target_language: str) -> None:
        self.active = target_language == "en"

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        text = unicodedata.normalize("NFC", text)
        found = [*self._articles(text, explanation_language)]
        found += self._double_comparatives(text, explanation_language)
        return sorted(found, key=lambda e: (e.start, -(e.end - e.start)))

    def _articles(self, text: str, lang: str) -> list[ErrorEvent]:
        events = []
        for match in _ARTICLE.finditer(text):
            article, word = match.group("art"), match.group("word")
            if word.isupper() or len(word) < 2:
                continue  # "an MP", "a B": letters are read by name
            right = "an" if _needs_an(word) else "a"
            if article.casefold() == right:
                continue
            fix = f"{_keep_case(article, right)} {word}"
            events.append(_event(match, fix, "article", "en-a-an", lang, {}))
        return events

    def _double_comparatives(self, text: str, lang: str) -> list[ErrorEvent]:
        events = []
        for match in _DOUBLE.finditer(text):
            more, adj = match.group("more").casefold(), match.group("adj").casefold()
            if (more == "more" and adj in _COMPARATIVES) or (
                more == "most" and adj in _SUPERLATIVES
            ):
                fields = {"adj": match.group("adj"), "more": match.group("more")}
                events.append(
                    _event(match, match.group("adj"), "comparative", "en-double-comparative",
                           lang, fields)
                )  # fmt: skip
        return events


def _event(
    match: re.Match[str],
    fix: str,
    category: str,
    rule: str,
    lang: str,
    fields: dict[str, str],
) -> ErrorEvent:
    notes = NOTES[rule]
    note = (notes.get(lang) or notes["en"]).format(fix=fix, **fields)
    return ErrorEvent(
        category, match.start(), match.end(), match.group(0), fix, note, "rules", rule
    )
