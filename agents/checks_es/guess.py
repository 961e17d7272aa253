"""Readings for real Spanish words the dictionary lacks, guessed from their endings.

Apertium's dictionary misses some common learner vocabulary ("talentoso",
"relajante", "vacación"). When wordfreq knows such a word as written Spanish,
an ending that reliably marks the part of speech, gender and number gives it a
reading (tagged ``guess``), and :func:`inflect_guessed` makes its other forms
by the regular rules, so the agreement checks can judge "una vacación
perfecto" or "ella es muy talentoso" too.
"""

from __future__ import annotations

import re

from agents.lexicon_es import Reading, zipf

#: (ending, part of speech, gender, number): longest endings first.
_ENDINGS: tuple[tuple[str, str, str, str], ...] = (
    ("ciones", "n", "f", "pl"),
    ("siones", "n", "f", "pl"),
    ("dades", "n", "f", "pl"),
    ("tudes", "n", "f", "pl"),
    ("mientos", "n", "m", "pl"),
    ("ismos", "n", "m", "pl"),
    ("ción", "n", "f", "sg"),
    ("sión", "n", "f", "sg"),
    ("dad", "n", "f", "sg"),
    ("tud", "n", "f", "sg"),
    ("miento", "n", "m", "sg"),
    ("ismo", "n", "m", "sg"),
    ("osos", "adj", "m", "pl"),
    ("osas", "adj", "f", "pl"),
    ("ivos", "adj", "m", "pl"),
    ("ivas", "adj", "f", "pl"),
    ("oso", "adj", "m", "sg"),
    ("osa", "adj", "f", "sg"),
    ("ivo", "adj", "m", "sg"),
    ("iva", "adj", "f", "sg"),
    ("ados", "adj", "m", "pl"),
    ("adas", "adj", "f", "pl"),
    ("idos", "adj", "m", "pl"),
    ("idas", "adj", "f", "pl"),
    ("dores", "adj", "m", "pl"),
    ("doras", "adj", "f", "pl"),
    ("ado", "adj", "m", "sg"),
    ("ada", "adj", "f", "sg"),
    ("ido", "adj", "m", "sg"),
    ("ida", "adj", "f", "sg"),
    ("dora", "adj", "f", "sg"),
    ("dor", "adj", "m", "sg"),
    ("antes", "adj", "mf", "pl"),
    ("entes", "adj", "mf", "pl"),
    ("bles", "adj", "mf", "pl"),
    ("ante", "adj", "mf", "sg"),
    ("ente", "adj", "mf", "sg"),
    ("ble", "adj", "mf", "sg"),
)
_WORD = re.compile(r"^[a-záéíóúñü]{5,}$")
_UNACCENT = str.maketrans("áéíóú", "aeiou")


def guess_meant(word: str) -> tuple[str, tuple[Reading, ...]]:
    """:func:`guess` for the word, or failing that for its accented form when that form
    is clearly the commoner word ("vacacion" -> "vacación"): (the word read, readings)."""
    readings = guess(word)
    if readings or any(c in word for c in "áéíóú"):
        return word, readings
    for index, letter in enumerate(word):
        if letter in "aeiou":
            accented = word[:index] + "áéíóú"["aeiou".index(letter)] + word[index + 1 :]
            if zipf(accented) >= zipf(word) + 0.5 and (readings := guess(accented)):
                return accented, readings
    return word, ()


def guess(word: str) -> tuple[Reading, ...]:
    """Readings for an unknown lower-case word that is common written Spanish (else none)."""
    if not _WORD.match(word) or zipf(word) < 2.0 or zipf(word, "en") >= 3.0:
        return ()
    for ending, pos, gender, number in _ENDINGS:
        if word.endswith(ending):
            lemma = _singular(word, pos, gender) if number == "pl" else word
            if pos == "adj" and gender == "f" and not lemma.endswith("dor"):
                lemma = lemma[:-1] if lemma.endswith("dora") else lemma[:-1] + "o"
            return (Reading(lemma, (pos, gender, number, "guess")),)
    return ()


def _singular(word: str, pos: str, gender: str) -> str:
    if word.endswith(("ciones", "siones")):
        return word[:-5] + "ión"
    if pos == "n" and word.endswith(("dades", "tudes")):
        return word[:-2]
    if pos == "adj" and word.endswith(("bles", "dores", "doras")):
        return word[:-1] if word.endswith("bles") else word[:-2]
    return word[:-1]


def inflect_guessed(reading: Reading, gender: str | None, number: str | None) -> str | None:
    """The guessed word with ``gender`` and ``number`` by the regular rules."""
    own_gender = next(t for t in reading.tags if t in ("m", "f", "mf"))
    gender = gender if gender in ("m", "f") and own_gender != "mf" else None
    base = reading.lemma  # the masculine (or only) singular
    if reading.pos == "adj" and own_gender != "mf":
        wanted_gender = gender or own_gender
        if base.endswith("dor"):
            base = base + "a" if wanted_gender == "f" else base
        else:
            base = base[:-1] + ("a" if wanted_gender == "f" else "o")
    elif reading.pos == "n" and gender is not None and gender != own_gender:
        return None  # a noun keeps its gender
    wanted = number or next(t for t in reading.tags if t in ("sg", "pl"))
    if wanted == "sg":
        return base
    if base.endswith("ión"):
        return base[:-3] + "iones"
    if base[-1] in "aeiouáéó":
        return base + "s"
    if base.endswith("dora"):
        return base + "s"
    return base.translate(_UNACCENT) + "es" if base[-2:] in ("ón", "án", "én") else base + "es"
