"""What every Spanish check works on: the sentence, its findings and their notes.

A check is a function from a :class:`Sentence` (the learner's text and
Apertium's tokens for it) to :class:`Finding` objects; :func:`check` registers
its rule id with the English and Spanish note that explains the mistake. The
reading helpers here answer the questions all checks ask of a word: its gender
and number, whether it agrees with a head, whether it is a finite verb, and
what its form with other features is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

from agents.lexicon_es import Reading, Token, analyser, zipf


@dataclass(frozen=True, slots=True)
class Finding:
    """A check's raw result; :class:`~agents.checks_es.SpanishChecks` makes it an ErrorEvent."""

    start: int
    end: int
    correction: str
    category: str
    rule: str
    fields: tuple[tuple[str, str], ...] = ()


#: Words after which a new clause, and so maybe a new subject, begins ("pero ella es...").
CLAUSE_OPENERS = frozenset({"pero", "porque", "cuando", "aunque", "pues", "entonces", ","})


class Sentence:
    """A learner's text with its tokens, and the look-around helpers the checks share."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def at(self, index: int) -> Token | None:
        return self.tokens[index] if 0 <= index < len(self.tokens) else None

    def word(self, index: int) -> str:
        """The casefolded text at ``index`` ("" outside the sentence)."""
        token = self.at(index)
        return token.lower if token is not None else ""

    def starts_clause(self, index: int) -> bool:
        """Token ``index`` opens the text, a sentence or a clause after ; or :."""
        before = self.at(index - 1)
        return before is None or before.text in {".", "!", "?", ";", ":", "¡", "¿", '"', "“", "”"}

    def opens_clause(self, index: int) -> bool:
        """Token ``index`` starts a clause, or follows a conjunction or comma that opens one."""
        return self.starts_clause(index) or self.word(index - 1) in CLAUSE_OPENERS

    def skip(self, index: int, words: Collection[str]) -> int:
        """The first index from ``index`` on whose word is not one of ``words``."""
        while self.word(index) in words:
            index += 1
        return index

    def span(self, first: int, last: int) -> tuple[int, int, str]:
        start, end = self.tokens[first].start, self.tokens[last].end
        return start, end, self.text[start:end]


Check = Callable[[Sentence], Iterator[Finding]]

#: Per rule id: the note in each explanation language ({wrong} and {fix} filled in).
NOTES: dict[str, dict[str, str]] = {}
#: The checks that need no morphology (the others are skipped when it is not installed).
TEXT_ONLY: set[Check] = set()


def note(rule: str, en: str, es: str) -> None:
    """Register the English and Spanish note for findings under ``rule``."""
    NOTES[rule] = {"en": en, "es": es}


def check(rule: str, en: str, es: str, *, text_only: bool = False) -> Callable[[Check], Check]:
    """Mark a function as the check for ``rule``, with its English and Spanish note."""

    def register(function: Check) -> Check:
        note(rule, en, es)
        if text_only:
            TEXT_ONLY.add(function)
        return function

    return register


# --- readings -----------------------------------------------------------------------------

GENDERS = ("m", "f", "mf")
NUMBERS = ("sg", "pl", "sp")
FINITE = ("pri", "pii", "ifi", "fti", "cni", "prs", "pis", "fts", "imp")
_WORD = re.compile(r"^[^\W\d_]+$")


def is_word(token: Token | None) -> bool:
    return token is not None and bool(_WORD.match(token.text))


def readings_of(token: Token | None) -> tuple[Reading, ...]:
    return token.readings if token is not None else ()


def gender_of(reading: Reading) -> str | None:
    return next((tag for tag in reading.tags if tag in GENDERS), None)


def number_of(reading: Reading) -> str | None:
    return next((tag for tag in reading.tags if tag in NUMBERS), None)


def agrees(reading: Reading, gender: str | None, number: str | None) -> bool:
    """The reading can stand with a head of ``gender`` and ``number`` (None: any)."""
    own_gender, own_number = gender_of(reading), number_of(reading)
    gender_ok = gender is None or own_gender in (None, "mf", "nt") or gender in ("mf", own_gender)
    number_ok = number is None or own_number in (None, "sp") or number in ("sp", own_number)
    return gender_ok and number_ok


def is_finite(reading: Reading) -> bool:
    return reading.pos in ("vblex", "vbser", "vbhaver", "vbmod") and any(
        tag in FINITE for tag in reading.tags
    )


#: Finite forms too rare in learner writing to outweigh a noun reading ("las cosas": coser).
_RARE_MOODS = ("prs", "pis", "fts", "imp")


def plausible_finite(reading: Reading) -> bool:
    """A finite reading a learner would likely mean: no subjunctive or imperative, a common verb.

    After a determiner, "cosas", "relaciones" or "sitio" are nouns, though the
    dictionary also reads them as forms of coser, relacionar or sitiar.
    """
    if not is_finite(reading) or any(tag in _RARE_MOODS for tag in reading.tags):
        return False
    return reading.pos != "vblex" or zipf(reading.lemma) >= 3.0


def nominal(token: Token | None) -> bool:
    """Known, and a noun in every reading a learner would mean: a participle or a rare verb
    form does not count ("comida", "hermana", "cosas")."""
    return (
        token is not None
        and token.can_be("n")
        and all(
            r.pos == "n"
            or r.pos == "vblex"
            and (r.has("pp") or is_finite(r) and not plausible_finite(r))
            for r in token.readings
        )
    )


def agreeing_adjective(token: Token | None, gender: str | None, number: str | None) -> bool:
    """A lower-case word that is only an adjective and agrees with ``gender`` and ``number``
    ("la comida MEXICANA es", "mis vacaciones PERFECTAS")."""
    return (
        token is not None
        and token.text.islower()
        and token.only("adj")
        and any(agrees(r, gender, number) for r in token.readings)
    )


def only_finite(token: Token | None) -> bool:
    """Known, and a finite verb in every analysis."""
    return token is not None and bool(token.readings) and all(is_finite(r) for r in token.readings)


def finite_readings(token: Token, lemmas: Collection[str]) -> list[Reading]:
    """The token's analyses as a finite form of one of the verbs ``lemmas``."""
    return [r for r in token.readings if r.lemma in lemmas and is_finite(r)]


def inflect(
    reading: Reading,
    gender: str | None = None,
    number: str | None = None,
    person: str | None = None,
) -> str | None:
    """The form of ``reading``'s word with ``gender``, ``number`` and ``person`` (None: its own)."""
    if reading.has("guess"):
        from agents.checks_es.guess import inflect_guessed

        return inflect_guessed(reading, gender, number)
    morphology = analyser()
    if morphology is None:
        return None

    def feature(tag: str) -> str:
        if tag in ("m", "f") and gender in ("m", "f"):
            return gender
        if tag in ("sg", "pl") and number in ("sg", "pl"):
            return number
        if tag in ("p1", "p2", "p3") and person is not None:
            return person
        return tag

    return morphology.generate(reading.lemma, tuple(feature(tag) for tag in reading.tags))
