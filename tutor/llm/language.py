"""A small language guesser for Spanish and English replies (stopword counts).

Enough to catch a model answering in the wrong language; it abstains on
short or mixed text rather than guess.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-zñ]+")
STOPWORDS = {
    "es": frozenset(
        "el la los las un una unos unas de del que y en a por para con no es son está estoy "
        "muy pero como más mi mis tu tus su sus se lo le me te nos yo tú él ella ellos qué "
        "cuando donde porque también hay ser estar tiene tengo fue era al".split()
    ),
    "en": frozenset(
        "the a an of and to in is are was were be been it this that with for on not you i "
        "he she they we my your his her their what when where because also there have has "
        "do does did at by from or but".split()
    ),
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn" or ch == "\u0303")


def guess_language(text: str, *, minimum_words: int = 6, margin: float = 2.0) -> str | None:
    """``"es"``, ``"en"`` or None when the text is too short or not clearly one of them."""
    words = _WORD.findall(unicodedata.normalize("NFC", _fold(text)))
    if len(words) < minimum_words:
        return None
    scores = {lang: sum(word in stops for word in words) for lang, stops in STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    other = min(scores.values())
    if scores[best] < 2 or scores[best] < margin * max(other, 1):
        return None
    return best
