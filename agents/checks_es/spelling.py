"""Spelling: missing written accents and English-style spellings.

Two checks. An unknown word whose accented (or ñ) form is a common Spanish
word gets that form ("tambien" -> "también"), and failing that, one without an
English double letter, ph or th ("differente" -> "diferente"); word
frequencies decide, so a rare or English word is left alone. A known word that
has an accented twin gets the accent where the words around it decide ("el
es" -> "él es", "para mi" -> "para mí", "esta en casa" -> "está").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.checks_es.sentence import (
    Finding,
    Sentence,
    check,
    is_word,
    note,
    only_finite,
    readings_of,
)
from agents.checks_es.words import PREPOSITIONS, noun_head
from agents.lexicon_es import Reading, known_words, zipf

# --- unknown words ------------------------------------------------------------------------

_ACCENTED = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú"}
_DOUBLED = re.compile(r"([bdfgmpstz])\1")


def _accent_variants(word: str) -> list[str]:
    """``word`` with one accent added, or one n made ñ."""
    if any(c in word for c in "áéíóú"):
        return [word[:i] + "ñ" + word[i + 1 :] for i, c in enumerate(word) if c == "n"]
    found = [word[:i] + _ACCENTED[c] + word[i + 1 :] for i, c in enumerate(word) if c in _ACCENTED]
    found += [word[:i] + "ñ" + word[i + 1 :] for i, c in enumerate(word) if c == "n"]
    return found


def _spelling_variants(word: str) -> list[str]:
    """``word`` without an English-style double letter, ph or th ("differente", "photo")."""
    found = [word[: m.start()] + word[m.start() + 1 :] for m in _DOUBLED.finditer(word)]
    found += [word.replace("ph", "f"), word.replace("th", "t")]
    return [w for w in found if w != word]


def _best(candidates: list[str], word: str, margin: float) -> str | None:
    """The one known candidate (or the clearly most frequent), ``margin`` more common than
    ``word`` on the Zipf scale."""
    known = [c for c in dict.fromkeys(candidates) if c in known_words(candidates)]
    if not known:
        return None
    ranked = sorted(known, key=zipf, reverse=True)
    if len(ranked) > 1 and zipf(ranked[0]) < zipf(ranked[1]) + 1.0:
        return None
    best = ranked[0]
    return best if zipf(best) >= 2.5 and zipf(best) > zipf(word) + margin else None


def _unknown_word(sentence: Sentence, index: int) -> bool:
    """An unknown lower-case word (capitalised only to open a sentence) of three letters or more."""
    token = sentence.tokens[index]
    if token.known or not is_word(token) or len(token.text) < 3:
        return False
    if token.text[:1].isupper() and not (
        sentence.starts_clause(index) and token.text[1:].islower()
    ):
        return False
    return token.text[1:].islower()


_LETTERS = "abcdefghijklmnopqrstuvwxyzáéíóúñü"


def _one_edit(word: str) -> list[str]:
    """Every string one typing slip away from ``word``: a letter left out, added, swapped
    with the next one, or replaced (the classic edit distance of one)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found = [a + b[1:] for a, b in splits if b]
    found += [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    found += [a + c + b[1:] for a, b in splits if b for c in _LETTERS if c != b[0]]
    found += [a + c + b for a, b in splits for c in _LETTERS]
    return [w for w in dict.fromkeys(found) if w != word]


def typo_fix(sentence: Sentence, index: int) -> str | None:
    """The common word an unknown word of five letters or more is one slip away from
    ("segidores" -> "seguidores", "escuel" -> "escuela"), when exactly one such word is
    clearly the likeliest and the word itself is next to unseen in written Spanish;
    English words and names are left alone."""
    if not _unknown_word(sentence, index):
        return None
    lower = sentence.tokens[index].lower
    if len(lower) < 5 or zipf(lower, "en") >= 3.0 or zipf(lower) >= 2.0:
        return None  # English, or a real word the dictionary lacks ("talentoso")
    if lower[-1] in "áéíóú":
        return None  # a past tense the dictionary lacks ("se estresó", "me duché")
    candidates = [w for w in _one_edit(lower) if zipf(w) >= 3.0]
    known = [w for w in candidates if w in known_words(candidates)]
    if not known:
        return None
    ranked = sorted(known, key=zipf, reverse=True)
    if len(ranked) > 1 and zipf(ranked[0]) < zipf(ranked[1]) + 1.0:
        return None
    return ranked[0]


def variant_fix(sentence: Sentence, index: int) -> str | None:
    """The word without an English double letter, ph or th, or with an ñ ("differente",
    "montanas"), when that is a clearly commoner known word."""
    if not _unknown_word(sentence, index):
        return None
    lower = sentence.tokens[index].lower
    if zipf(lower, "en") >= 4.0:
        return None
    return _best(_spelling_variants(lower) + _accent_variants(lower), lower, 1.0)


def accent_fix(sentence: Sentence, index: int) -> str | None:
    """The word at ``index`` with the accent (or ñ) it lacks, when it is unknown without it
    and its accented form is a common word ("pelicula" -> "película"); else None."""
    if not _unknown_word(sentence, index):
        return None
    lower = sentence.tokens[index].lower
    if zipf(lower, "en") >= 4.0:
        return None
    variants = _accent_variants(lower)
    return _best([v for v in variants if "ñ" not in v or "ñ" in lower], lower, 0.0)


@check(
    "es-accent",
    "Spelling: {fix} has a written accent.",
    "Ortografía: {fix} lleva tilde.",
)
def accent(sentence: Sentence) -> Iterator[Finding]:
    """Words the dictionary does not know whose accented form it does: "tambien", "cancion".

    Failing an accent, an English-style spelling is reported under "es-spelling"."""
    for index, token in enumerate(sentence.tokens):
        if not _unknown_word(sentence, index):
            continue
        lower = token.lower
        if zipf(lower, "en") >= 4.0:
            continue  # an English word: "the", "classes"
        fix = accent_fix(sentence, index)
        if fix is not None:
            yield Finding(token.start, token.end, fix, "spelling_accent", "es-accent")
            continue
        fix = variant_fix(sentence, index) or typo_fix(sentence, index)
        if fix is not None:
            yield Finding(token.start, token.end, fix, "spelling", "es-spelling")


note("es-spelling", "Spelling: {fix}.", "Ortografía: {fix}.")


# --- accents the context decides ----------------------------------------------------------

_STATE_WORDS = frozenset("en muy bien mal aquí allí allá acá lejos cerca".split())
_QUESTION_WORDS = {
    "que": "qué",
    "como": "cómo",
    "donde": "dónde",
    "cuando": "cuándo",
    "quien": "quién",
    "quienes": "quiénes",
    "cual": "cuál",
    "cuales": "cuáles",
    "cuanto": "cuánto",
    "cuanta": "cuánta",
    "cuantos": "cuántos",
    "cuantas": "cuántas",
}
_PRONOUN_ACCENT = {
    "el": "él",
    "tu": "tú",
    "mi": "mí",
    "esta": "está",
    "estas": "estás",
    "mas": "más",
}


def _indicative(reading: Reading) -> bool:
    return any(tag in ("pri", "pii", "ifi", "fti", "cni") for tag in reading.tags)


def _accent_fix(sentence: Sentence, index: int) -> str | None:
    """The accented word for an unaccented look-alike when the words around it decide."""
    word = sentence.word(index)
    following = sentence.at(index + 1)
    after = sentence.word(index + 1).split(" ")[0]  # "en casa" may be one token
    if word in _QUESTION_WORDS and sentence.word(index - 1) == "¿":
        return _QUESTION_WORDS[word]
    if (
        word == "el"
        and only_finite(following)
        and any(r.has("p3", "sg") and _indicative(r) for r in readings_of(following))
    ):  # "el anime" is no subjunctive or command
        return "él"
    if (
        word == "tu"
        and only_finite(following)
        and any(r.has("p2", "sg") for r in readings_of(following))
    ):
        return "tú"
    if (
        word == "mi"
        and sentence.word(index - 1) in PREPOSITIONS
        and (
            following is None
            or following.text in {".", ",", "!", "?", ";", ":", ")"}
            or after in {"me", "también", "y", "no"}
            or only_finite(following)
        )
    ):
        return "mí"
    if word in ("esta", "estas") and (
        after in _STATE_WORDS
        or following is not None
        and following.readings
        and all(r.has("ger") or r.pos == "adj" or r.has("pp") for r in following.readings)
        and noun_head(sentence.at(index + 2)) is None
    ):
        return _PRONOUN_ACCENT[word]
    if word == "mas" and sentence.word(index - 1) != ",":
        return "más"
    return None


@check(
    "es-accent-context",
    "Here it is {fix}, with a written accent.",
    "Aquí es {fix}, con tilde.",
)
def accent_in_context(sentence: Sentence) -> Iterator[Finding]:
    """ "el es" -> "él es"; "para mi" -> "para mí"; "esta en casa" -> "está"; "mas" -> "más"."""
    for index, token in enumerate(sentence.tokens):
        if token.lower in _PRONOUN_ACCENT or token.lower in _QUESTION_WORDS:
            fix = _accent_fix(sentence, index)
            if fix is not None:
                yield Finding(token.start, token.end, fix, "spelling_accent", "es-accent-context")
