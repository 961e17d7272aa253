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
from typing import Protocol

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

    @property
    def code(self) -> str:
        """The taxonomy code of :attr:`category` (GENDER, SER_ESTAR, ...)."""
        return taxonomy(self.category)


#: Category (curriculum patterns, built-in checks, model findings) -> taxonomy code.
TAXONOMY = {
    "gender_agreement": "GENDER",
    "gender": "GENDER",
    "number_agreement": "NUMBER",
    "plural": "NUMBER",
    "countable_uncountable": "NUMBER",
    "ser_estar": "SER_ESTAR",
    "por_para": "PREP",
    "personal_a": "PREP",
    "preposition": "PREP",
    "article": "ART",
    "article_contraction": "ART",
    "spelling": "SPELL",
    "spelling_accent": "ACCENT",
    "accent": "ACCENT",
    "verb_conjugation": "VERB_FORM",
    "verb_tense": "VERB_FORM",
    "verb_form": "VERB_FORM",
    "past_simple": "VERB_FORM",
    "present_perfect": "VERB_FORM",
    "preterite_imperfect": "VERB_FORM",
    "third_person_s": "VERB_FORM",
    "do_support": "VERB_FORM",
    "gustar": "VERB_FORM",
    "reflexive": "VERB_FORM",
    "word_order": "WORD_ORDER",
    "adjective_position": "WORD_ORDER",
    "comparative": "COMPARISON",
    "subject_pronoun": "PRONOUN",
    "false_friend": "WORD_CHOICE",
    "word_choice": "WORD_CHOICE",
}
CODES = frozenset(TAXONOMY.values()) | {"OTHER"}


def taxonomy(category: str) -> str:
    """The code for a category; a model's free-form category maps by its words, else OTHER."""
    if category in TAXONOMY:
        return TAXONOMY[category]
    for word, code in (
        ("gender", "GENDER"),
        ("number", "NUMBER"),
        ("agreement", "GENDER"),
        ("ser", "SER_ESTAR"),
        ("prep", "PREP"),
        ("article", "ART"),
        ("accent", "ACCENT"),
        ("spell", "SPELL"),
        ("verb", "VERB_FORM"),
        ("tense", "VERB_FORM"),
        ("order", "WORD_ORDER"),
        ("word", "WORD_CHOICE"),
    ):
        if word in category:
            return code
    return "OTHER"


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
#: Determiners that show gender: word -> (gender, number, the other gender's form).
_DETERMINERS: dict[str, tuple[str, str, str]] = {}
for _m, _f, _number in (
    ("el", "la", "s"),
    ("un", "una", "s"),
    ("al", "a la", "s"),
    ("del", "de la", "s"),
    ("este", "esta", "s"),
    ("ese", "esa", "s"),
    ("aquel", "aquella", "s"),
    ("mucho", "mucha", "s"),
    ("poco", "poca", "s"),
    ("otro", "otra", "s"),
    ("nuestro", "nuestra", "s"),
    ("algún", "alguna", "s"),
    ("ningún", "ninguna", "s"),
    ("los", "las", "p"),
    ("unos", "unas", "p"),
    ("estos", "estas", "p"),
    ("esos", "esas", "p"),
    ("aquellos", "aquellas", "p"),
    ("muchos", "muchas", "p"),
    ("pocos", "pocas", "p"),
    ("otros", "otras", "p"),
    ("nuestros", "nuestras", "p"),
):
    _DETERMINERS[_m] = ("m", _number, _f)
    if " " not in _f:
        _DETERMINERS[_f] = ("f", _number, _m)
#: Masculine forms a feminine noun with stressed a- takes in the singular.
_EL_BEFORE_STRESSED_A = frozenset({"el", "un", "al", "del", "algún", "ningún"})
_PHRASE = re.compile(
    r"\b(" + "|".join(sorted(_DETERMINERS, key=len, reverse=True)) + r")\s+(\w+)\b", re.IGNORECASE
)


def _plural(noun: str) -> str:
    """The regular Spanish plural (enough for the lexicon's common nouns)."""
    if noun[-1] in "aeiouáéó":
        return noun + "s"
    if noun.endswith("z"):
        return noun[:-1] + "ces"
    stripped = noun[:-2] + {"ó": "o", "á": "a", "é": "e", "í": "i", "ú": "u"}.get(
        noun[-2], noun[-2]
    )
    return (stripped if noun[-2] in "óáéíú" else noun[:-2] + noun[-2]) + noun[-1] + "es"


_NOTES = {
    "f": {"en": "{noun} is feminine: {fix} {noun}.", "es": "{noun} es femenino: {fix} {noun}."},
    "m": {"en": "{noun} is masculine: {fix} {noun}.", "es": "{noun} es masculino: {fix} {noun}."},
}


class ArticleAgreement:
    """Spanish determiner-noun gender agreement from the curriculum lexicon.

    Covers articles (and al/del), demonstratives, mucho/poco/otro, nuestro,
    algún/ningún, singular and plural. Only nouns the lexicon knows are
    checked, so a word it has never seen is never flagged; "el agua" and its
    kin (feminine nouns with a stressed a-) are correct.
    """

    def __init__(self, curriculum: Curriculum) -> None:
        self.active = curriculum.target_language == "es"
        self._nouns: dict[str, tuple[str, str, str]] = {}  # form -> (gender, number, lemma)
        for unit in curriculum.units():
            for item in unit.vocabulary:
                if item.pos != "noun" or item.gender is None or " " in item.lemma:
                    continue
                lemma = item.lemma.casefold()
                if lemma.endswith("s"):  # lunes, crisis, cumpleaños: the same in the plural
                    continue
                self._nouns.setdefault(lemma, (item.gender, "s", lemma))
                self._nouns.setdefault(_plural(lemma), (item.gender, "p", lemma))

    def _number(
        self,
        match: re.Match[str],
        determiner: tuple[str, str, str],
        known: tuple[str, str, str],
        explanation_language: str,
    ) -> ErrorEvent | None:
        gender, number, lemma = known
        fix = _number_fix(match.group(1), gender, number, lemma)
        if fix is None:
            return None
        wrong = match.group(0)
        note = _NUMBER_NOTES.get(explanation_language, _NUMBER_NOTES["en"]).format(fix=fix)
        return ErrorEvent(
            "number_agreement",
            match.start(),
            match.end(),
            wrong,
            _keep_case(wrong, fix),
            note,
            "rules",
            "determiner-agreement",
        )

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        text = unicodedata.normalize("NFC", text)
        found = []
        for match in _PHRASE.finditer(text):
            word, noun = match.group(1), match.group(2)
            determiner = _DETERMINERS[word.casefold()]
            known = self._nouns.get(noun.casefold())
            if known is None:
                continue
            gender, number, lemma = known
            if determiner[1] != number:
                number_error = self._number(match, determiner, known, explanation_language)
                if number_error is not None:
                    found.append(number_error)
                continue
            if determiner[0] == gender:
                continue
            if (
                gender == "f"
                and number == "s"
                and lemma in _STRESSED_A
                and word.casefold() in _EL_BEFORE_STRESSED_A
            ):
                continue
            fix = determiner[2]
            notes = _NOTES[gender]
            note = notes.get(explanation_language, notes["en"]).format(noun=noun, fix=fix)
            category = (
                "article_contraction" if word.casefold() in ("al", "del") else "gender_agreement"
            )
            wrong = match.group(0)
            found.append(
                ErrorEvent(
                    category,
                    match.start(),
                    match.end(),
                    wrong,
                    _keep_case(wrong, f"{fix} {noun}"),
                    note,
                    "rules",
                    "determiner-agreement",
                )
            )
        return found


_PLURAL_OF = {
    "el": "los",
    "la": "las",
    "un": "unos",
    "una": "unas",
    "al": "a los",
    "del": "de los",
    "este": "estos",
    "esta": "estas",
    "ese": "esos",
    "esa": "esas",
    "aquel": "aquellos",
    "aquella": "aquellas",
    "mucho": "muchos",
    "mucha": "muchas",
    "poco": "pocos",
    "poca": "pocas",
    "otro": "otros",
    "otra": "otras",
    "nuestro": "nuestros",
    "nuestra": "nuestras",
}
_NUMBER_NOTES = {
    "en": "Determiner and noun agree in number: {fix}.",
    "es": "El determinante y el nombre concuerdan en número: {fix}.",
}


def _number_fix(word: str, gender: str, number: str, lemma: str) -> str | None:
    """A singular determiner before a plural noun becomes plural, and the reverse fixes
    the noun ("los libro" -> "los libros"); the determiner keeps the noun's gender."""
    base = word.casefold()
    entry = _DETERMINERS.get(base)
    if entry is None:
        return None
    if entry[0] != gender:
        base = entry[2]
    if number == "p":  # singular determiner, plural noun
        plural = _PLURAL_OF.get(base)
        return f"{plural} {_plural(lemma)}" if plural else None
    if gender == "f" and lemma in _STRESSED_A:
        return None
    return f"{base} {_plural(lemma)}" if base not in ("al", "del", "a la", "de la") else None


class Layer(Protocol):
    """One source of findings in the rule engine."""

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]: ...


class RuleEngine:
    """All offline rule layers for one curriculum, merged without overlaps.

    The curriculum's own layers come first, so on the same span their finding wins
    over the built-in checks for the target language (:mod:`agents.checks_es`,
    :mod:`agents.checks_en`).
    """

    def __init__(self, curriculum: Curriculum) -> None:
        from agents.checks_en import EnglishChecks  # they build on ErrorEvent, defined here
        from agents.checks_es import SpanishChecks

        self._layers: list[Layer] = [
            ArticleAgreement(curriculum),
            PatternRules(curriculum),
            SpanishChecks(curriculum.target_language),
            EnglishChecks(curriculum.target_language),
        ]

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        events = [e for layer in self._layers for e in layer.check(text, explanation_language)]
        events.sort(key=lambda event: (event.start, -(event.end - event.start)))
        kept: list[ErrorEvent] = []
        for event in events:
            if not kept or event.start >= kept[-1].end:
                kept.append(event)
        return kept
