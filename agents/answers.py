"""Tolerant checking of vocabulary review answers typed in a chat.

A learner reviewing a card types an answer on WhatsApp or Telegram; ``check_answer`` decides
whether it counts as right for the spaced-repetition rating and writes a short note in the
learner's explanation language. Spanish (``"es"``) and English (``"en"``) targets are supported.

The rules, from best to worst:

* ``exact``: equal after normalisation (Unicode NFC, casefold, whitespace collapsed, punctuation
  such as ``¿ ¡ . ! ? , ;`` and quotes dropped, hyphens read as spaces).
* ``accent``: equal once accents and diacritics are removed (ñ/n and ü/u count as accents).
  Right, with a note about the accent, the ñ or the ü.
* ``article_missing``: the expected form has a leading article and the answer is the bare noun.
  Right, with a reminder of the article. An article the learner adds to an expected form without
  one is accepted, and so is a definite article where an indefinite one of the same gender and
  number was expected (``un café`` for ``el café``).
* ``typo``: a small slip, measured with the Damerau-Levenshtein distance on accent-stripped
  forms: none for 1-3 letters, 1 for 4-7 letters, 2 for 8 or more (3 for phrases of 16 or more
  letters). A slip that spells another common word of the target language (``pero`` for
  ``perro``) is wrong instead. In English, ``a`` where ``an`` belongs (or the reverse) is a typo.
* ``wrong_article``: a Spanish noun with an article of the wrong gender or number. Not right,
  with a hint about the gender or number.
* ``wrong``: anything else. ``empty``: nothing but spaces, punctuation or emoji.

The expected form may hold alternatives separated by ``/`` or ``;`` (``coche / carro``), or be a
sequence of them; the best-matching alternative wins. ``el/la estudiante`` reads as
``el estudiante`` or ``la estudiante``. In English the infinitive ``to`` is optional.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from wordfreq import zipf_frequency

__all__ = ["KINDS", "Verdict", "check_answer", "damerau_levenshtein", "normalise", "strip_accents"]

KINDS = ("exact", "accent", "typo", "article_missing", "wrong_article", "wrong", "empty")

_RANK = {
    "exact": 6,
    "accent": 5,
    "article_missing": 4,
    "typo": 3,
    "wrong_article": 2,
    "wrong": 1,
    "empty": 0,
}

_ARTICLES: dict[str, frozenset[str]] = {
    "es": frozenset({"el", "la", "los", "las", "un", "una", "unos", "unas"}),
    "en": frozenset({"the", "a", "an"}),
}
_FEMININE = frozenset({"la", "las", "una", "unas"})
_PLURAL = frozenset({"los", "las", "unos", "unas"})
_DEFINITE = frozenset({"el", "la", "los", "las"})

_COMMON_ZIPF = 3.0
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_VOWELS = frozenset("aeiou")

_NOTES: dict[str, dict[str, str]] = {
    "en": {
        "accent": "Correct! Watch the accent: {form}.",
        "ñ": "Correct! Watch the ñ: {form}.",
        "ü": "Correct! Watch the ü: {form}.",
        "article_missing": "Correct! Remember the article: {form}.",
        "typo": "Correct! Careful with the spelling: {form}.",
        "an": "Correct! It's {form} (an before a vowel sound).",
        "a": "Correct! It's {form} (a before a consonant sound).",
        "gender": "Almost: {noun} is {gender}, so it's {form}.",
        "number": "Almost: {noun} is {number}, so it's {form}.",
        "article": "Almost: it's {form}.",
        "wrong": "Not quite — it's {form}.",
        "also": "{form} (also: {others})",
        "empty": "Please type the word to answer.",
        "feminine": "feminine",
        "masculine": "masculine",
        "singular": "singular",
        "plural": "plural",
    },
    "es": {
        "accent": "¡Correcto! Ojo con la tilde: {form}.",
        "ñ": "¡Correcto! Ojo con la ñ: {form}.",
        "ü": "¡Correcto! Ojo con la diéresis: {form}.",
        "article_missing": "¡Correcto! Recuerda el artículo: {form}.",
        "typo": "¡Correcto! Cuidado con la ortografía: {form}.",
        "an": "¡Correcto! Es {form} (an delante de sonido vocálico).",
        "a": "¡Correcto! Es {form} (a delante de sonido consonántico).",
        "gender": "Casi: {noun} es {gender}, así que es {form}.",
        "number": "Casi: {noun} es {number}, así que es {form}.",
        "article": "Casi: es {form}.",
        "wrong": "No exactamente: es {form}.",
        "also": "{form} (también: {others})",
        "empty": "Escribe la palabra para responder.",
        "feminine": "femenino",
        "masculine": "masculino",
        "singular": "singular",
        "plural": "plural",
    },
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one answer.

    ``correct`` says whether it counts as right for the spaced-repetition rating, ``kind`` is one
    of ``KINDS``, ``expected`` is the alternative it was matched against as written in the
    curriculum, and ``note`` is a short note for the learner ("" for an exact answer).
    """

    correct: bool
    kind: str
    expected: str
    note: str


def _primary(tag: str) -> str:
    """Return the primary language subtag in lower case: "es-MX" -> "es"."""
    return tag.strip().replace("_", "-").split("-")[0].casefold()


def normalise(text: str) -> str:
    """Return text in NFC, casefolded, without punctuation, symbols or emoji, spaces collapsed.

    Hyphens and other punctuation become spaces; an apostrophe inside a word is kept (``don't``).
    """
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).casefold()
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == "'":
            before = text[i - 1] if i > 0 else " "
            after = text[i + 1] if i + 1 < len(text) else " "
            out.append(ch if before.isalnum() and after.isalnum() else " ")
            continue
        category = unicodedata.category(ch)
        if category[0] in "PSZ" or category in ("Cc", "Cf", "Me") or "\ufe00" <= ch <= "\ufe0f":
            out.append(" ")
        elif category == "Mn" and not (out and out[-1].isalpha()):
            out.append(" ")
        else:
            out.append(ch)
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def strip_accents(text: str) -> str:
    """Return text without combining marks: ``año`` -> ``ano``, ``pingüino`` -> ``pinguino``."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)


def damerau_levenshtein(a: str, b: str) -> int:
    """Return the Damerau-Levenshtein distance between a and b.

    Insertions, deletions, substitutions and transpositions of adjacent characters each cost 1;
    this is the unrestricted distance, so a transposed pair may also be edited further.
    """
    if a == b:
        return 0
    if not a or not b:
        return len(a) + len(b)
    infinity = len(a) + len(b)
    d = [[0] * (len(b) + 2) for _ in range(len(a) + 2)]
    d[0][0] = infinity
    for i in range(len(a) + 1):
        d[i + 1][0] = infinity
        d[i + 1][1] = i
    for j in range(len(b) + 1):
        d[0][j + 1] = infinity
        d[1][j + 1] = j
    last_row: dict[str, int] = {}
    for i in range(1, len(a) + 1):
        last_col = 0
        for j in range(1, len(b) + 1):
            i1 = last_row.get(b[j - 1], 0)
            j1 = last_col
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if cost == 0:
                last_col = j
            d[i + 1][j + 1] = min(
                d[i][j] + cost,
                d[i + 1][j] + 1,
                d[i][j + 1] + 1,
                d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1),
            )
        last_row[a[i - 1]] = i
    return d[len(a) + 1][len(b) + 1]


@dataclass(frozen=True, slots=True)
class _Form:
    """A normalised form split into its leading article (if any) and the rest (the core)."""

    display: str
    norm: str
    article: str
    core: str
    core_display: str


@dataclass(frozen=True, slots=True)
class _Match:
    """How an answer matched one alternative, before the note is written."""

    kind: str
    note_key: str
    expected: str
    form: str = ""
    noun: str = ""
    quality: str = ""


def _parse(text: str, language: str) -> _Form:
    """Split text into an optional leading article and its core.

    In English a leading infinitive ``to`` is dropped from the core, so it is optional.
    """
    display = " ".join(text.split())
    norm = normalise(display)
    tokens = norm.split()
    article = prefix = ""
    if len(tokens) > 1 and language == "en" and tokens[0] == "to":
        prefix = tokens.pop(0)
    elif len(tokens) > 1 and tokens[0] in _ARTICLES.get(language, frozenset()):
        article = prefix = tokens.pop(0)
    core = " ".join(tokens)
    core_display = display
    raw = display.split()
    for i, word in enumerate(raw):
        if normalise(word):
            if prefix and normalise(word) == prefix and i + 1 < len(raw):
                core_display = " ".join(raw[i + 1 :])
            elif prefix:
                core_display = core
            break
    return _Form(display, norm, article, core, core_display)


def _alternatives(expected: str | Sequence[str], language: str) -> list[_Form]:
    """Return the alternatives in expected, splitting on "/" and ";".

    A lone article before another alternative takes that alternative's noun, so
    ``el/la estudiante`` gives ``el estudiante`` and ``la estudiante``.
    """
    items = [expected] if isinstance(expected, str) else list(expected)
    pieces: list[str] = []
    for item in items:
        for part in item.replace(";", "/").split("/"):
            if normalise(part):
                pieces.append(" ".join(part.split()))
    articles = _ARTICLES.get(language, frozenset())
    forms: list[_Form] = [_parse(piece, language) for piece in pieces]
    for i in range(len(forms) - 2, -1, -1):
        following = forms[i + 1]
        if forms[i].norm in articles and following.article:
            forms[i] = _parse(f"{forms[i].display} {following.core_display}", language)
    return forms


@lru_cache(maxsize=4096)
def _zipf(word: str, language: str) -> float:
    """Return the wordfreq Zipf frequency of word, or 0 when the language has no word list."""
    try:
        return float(zipf_frequency(word, language))
    except (LookupError, ValueError):
        return 0.0


def _budget(stripped: str) -> int:
    """Return how many edits still count as a typo for an accent-stripped expected form."""
    letters = sum(ch.isalpha() for ch in stripped)
    if letters < 4:
        return 0
    if letters < 8:
        return 1
    if " " in stripped and letters >= 16:
        return 3
    return 2


def _bare(word: str) -> str:
    """Return word without accents or apostrophes: ``dont`` is the same word as ``don't``."""
    return strip_accents(word).replace("'", "")


def _is_other_word(expected: str, answer: str, language: str) -> bool:
    """Say whether the words that differ in the answer are common words of the language."""
    exp_words = expected.split()
    ans_words = answer.split()
    if len(exp_words) == len(ans_words):
        changed = [a for e, a in zip(exp_words, ans_words, strict=True) if _bare(e) != _bare(a)]
    else:
        known = {_bare(e) for e in exp_words}
        changed = [a for a in ans_words if _bare(a) not in known]
    return any(_zipf(word, language) >= _COMMON_ZIPF for word in changed)


def _accent_detail(expected: str, answer: str) -> str:
    """Name the accent-level difference: "ñ", "ü" or "accent"."""
    if len(expected) == len(answer):
        changed = {
            c for pair in zip(expected, answer, strict=True) if pair[0] != pair[1] for c in pair
        }
    else:
        changed = set(expected) ^ set(answer)
    if "ñ" in changed:
        return "ñ"
    if "ü" in changed:
        return "ü"
    return "accent"


def _compare(expected: str, answer: str, language: str) -> tuple[str, str]:
    """Compare two normalised forms; return the kind (exact, accent, typo, wrong) and note key."""
    if answer == expected:
        return "exact", ""
    bare_expected, bare_answer = strip_accents(expected), strip_accents(answer)
    if bare_expected == bare_answer:
        return "accent", _accent_detail(expected, answer)
    budget = _budget(bare_expected)
    if abs(len(bare_expected) - len(bare_answer)) > budget:
        return "wrong", "wrong"  # the distance is at least the difference in length
    distance = damerau_levenshtein(bare_expected, bare_answer)
    if distance <= budget and not _is_other_word(expected, answer, language):
        return "typo", "typo"
    return "wrong", "wrong"


def _indefinite_for(core: str) -> str:
    """Return "an" before a vowel letter and "a" otherwise."""
    return "an" if strip_accents(core)[:1] in _VOWELS else "a"


def _spanish_articles(exp: _Form, ans: _Form, kind: str, key: str) -> _Match:
    """Judge a Spanish answer whose article differs from the expected one.

    An article of the same gender and number is accepted (``un café`` for ``el café``); another
    one makes the answer a wrong_article when the noun itself is right or nearly right. The hint
    names the gender or number taken from the expected article, except before a noun starting
    with a or ha after el/un (``el agua`` is feminine), where it only gives the right form.
    """
    same_gender = (exp.article in _FEMININE) == (ans.article in _FEMININE)
    same_number = (exp.article in _PLURAL) == (ans.article in _PLURAL)
    if (same_gender and same_number) or kind == "wrong":
        return _Match(kind, key, exp.display, exp.display)
    bare = strip_accents(exp.core)
    if not same_gender and exp.article in ("el", "un") and bare.startswith(("a", "ha")):
        return _Match("wrong_article", "article", exp.display, exp.display)
    if not same_gender:
        gender = "feminine" if exp.article in _FEMININE else "masculine"
        return _Match("wrong_article", "gender", exp.display, exp.display, exp.core_display, gender)
    number = "plural" if exp.article in _PLURAL else "singular"
    return _Match("wrong_article", "number", exp.display, exp.display, exp.core_display, number)


def _judge(exp: _Form, ans: _Form, language: str) -> _Match:
    """Match one answer against one expected alternative."""
    if ans.norm == exp.norm:
        return _Match("exact", "", exp.display)
    if strip_accents(ans.norm) == strip_accents(exp.norm):
        return _Match("accent", _accent_detail(exp.norm, ans.norm), exp.display, exp.display)
    kind, key = _compare(exp.core, ans.core, language)
    match = _Match(kind, key, exp.display, exp.display)
    if exp.article == ans.article:
        return _joined(exp, ans, language, match)
    if exp.article and not ans.article:
        if kind in ("exact", "accent"):
            match = _Match("article_missing", "article_missing", exp.display, exp.display)
    elif language == "en":
        proper = exp.article if exp.article in ("a", "an") else _indefinite_for(exp.core)
        if kind in ("exact", "accent") and ans.article in ("a", "an") and ans.article != proper:
            form = exp.display if exp.article == proper else f"{proper} {exp.core_display}"
            match = _Match("typo", proper, exp.display, form)
    elif language == "es" and exp.article:
        match = _spanish_articles(exp, ans, kind, key)
    return _joined(exp, ans, language, match)


def _joined(exp: _Form, ans: _Form, language: str, match: _Match) -> _Match:
    """Retry a wrong match on the whole phrase when words were joined or split (``lamanzana``)."""
    if match.kind == "wrong" and len(exp.norm.split()) != len(ans.norm.split()):
        kind, _ = _compare(exp.norm, ans.norm, language)
        if kind == "typo":
            return _Match("typo", "typo", exp.display, exp.display)
    return match


def _note(match: _Match, explain_in: str) -> str:
    """Write the learner's note for a match in the explanation language."""
    if not match.note_key:
        return ""
    notes = _NOTES["es" if _primary(explain_in) == "es" else "en"]
    quality = notes[match.quality] if match.quality else ""
    note = notes[match.note_key].format(
        form=match.form, noun=match.noun, gender=quality, number=quality
    )
    if match.form[-1:] in (".", "!", "?", "…") and note.endswith(match.form + "."):
        note = note[:-1]
    return note


def check_answer(
    expected: str | Sequence[str], answer: str, *, language: str = "es", explain_in: str = "en"
) -> Verdict:
    """Check a typed review answer against the expected form(s) and return a Verdict.

    ``expected`` is one form, alternatives separated by "/" or ";", or a sequence of forms;
    ``language`` is the target language ("es" or "en") and ``explain_in`` the language of the
    note ("es" for Spanish, anything else gives English). The best-matching alternative wins,
    the first one on a tie; a wrong answer is shown the first alternative and then the others.
    """
    lang = _primary(language)
    forms = _alternatives(expected, lang)
    if not forms:
        raise ValueError(f"no expected form in {expected!r}")
    notes = _NOTES["es" if _primary(explain_in) == "es" else "en"]
    ans = _parse(answer, lang)
    if not any(ch.isalnum() for ch in ans.norm):
        return Verdict(False, "empty", forms[0].display, notes["empty"])
    best = _judge(forms[0], ans, lang)
    for form in forms[1:]:
        match = _judge(form, ans, lang)
        if _RANK[match.kind] > _RANK[best.kind]:
            best = match
    if best.kind == "wrong":
        shown = forms[0].display
        others = [form.display for form in forms[1:]]
        if others:
            shown = notes["also"].format(form=shown, others=", ".join(others))
        best = _Match("wrong", "wrong", forms[0].display, shown)
    correct = best.kind in ("exact", "accent", "article_missing", "typo")
    return Verdict(correct, best.kind, best.expected, _note(best, explain_in))
