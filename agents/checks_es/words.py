"""The Spanish word knowledge several checks share.

Determiners (their paradigms, so a check can tell a determiner's gender and
number and produce the form a noun needs), noun heads as the dictionary tells
them, the subject pronouns with their person, number and dative, and the small
closed word classes (degree words, prepositions, clitics) that checks step over
or stop at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.checks_es.sentence import gender_of, is_word, number_of
from agents.lexicon_es import EITHER_GENDER, Reading, Token

# --- determiners --------------------------------------------------------------------------

Paradigm = tuple[str, str, str, str]

#: Determiner paradigms: masculine singular, feminine singular, masculine plural, feminine plural
#: ("" where a form does not exist; mi/tu/su show number only).
_PARADIGMS: list[Paradigm] = [
    ("el", "la", "los", "las"),
    ("un", "una", "unos", "unas"),
    ("este", "esta", "estos", "estas"),
    ("ese", "esa", "esos", "esas"),
    ("aquel", "aquella", "aquellos", "aquellas"),
    ("mucho", "mucha", "muchos", "muchas"),
    ("poco", "poca", "pocos", "pocas"),
    ("otro", "otra", "otros", "otras"),
    ("nuestro", "nuestra", "nuestros", "nuestras"),
    ("vuestro", "vuestra", "vuestros", "vuestras"),
    ("algún", "alguna", "algunos", "algunas"),
    ("ningún", "ninguna", "", ""),
    ("tanto", "tanta", "tantos", "tantas"),
    ("demasiado", "demasiada", "demasiados", "demasiadas"),
    ("", "", "varios", "varias"),
    ("", "", "ambos", "ambas"),
    ("primer", "primera", "primeros", "primeras"),
    ("mi", "mi", "mis", "mis"),
    ("tu", "tu", "tus", "tus"),
    ("su", "su", "sus", "sus"),
    ("cada", "cada", "", ""),
]
_SLOTS = (("m", "sg"), ("f", "sg"), ("m", "pl"), ("f", "pl"))


def _determiners() -> dict[str, tuple[str, str, Paradigm]]:
    """surface -> (gender, number, paradigm), the first paradigm with the form winning."""
    found: dict[str, tuple[str, str, Paradigm]] = {}
    for paradigm in _PARADIGMS:
        # "mf" where two slots share a form (mi, cada); varios, ambos and ningún show
        # their gender
        shared = (
            bool(paradigm[0])
            and paradigm[0] == paradigm[1]
            or bool(paradigm[2])
            and (paradigm[2] == paradigm[3])
        )
        for form, (gender, number) in zip(paradigm, _SLOTS, strict=True):
            if form:
                found.setdefault(form, ("mf" if shared else gender, number, paradigm))
    return found


DETERMINERS = _determiners()
#: The contracted articles and their preposition ("al" = a + el, "del" = de + el).
CONTRACTED = {"al": "a", "del": "de"}
#: Determiners that are also adverbs ("como mucho", "un poco"): checked before nouns only.
ALSO_ADVERBS = frozenset({"mucho", "poco", "tanto", "demasiado"})


def determiner_form(word: str, gender: str, number: str) -> str | None:
    """``word``'s determiner with ``gender`` and ``number`` ("un", "f", "sg" -> "una")."""
    entry = DETERMINERS.get(word)
    if entry is None:
        return None
    paradigm = entry[2]
    wanted_gender = gender if gender in ("m", "f") else ("f" if entry[0] == "f" else "m")
    form = paradigm[_SLOTS.index((wanted_gender, number if number in ("sg", "pl") else entry[1]))]
    return form or None


def fixed_determiner(word: str, gender: str, number: str) -> str | None:
    """The determiner ``word`` made to agree; "al"/"del" open up ("al ciudad" -> "a la")."""
    if word in CONTRACTED:
        article = determiner_form("el", gender, number)
        return f"{CONTRACTED[word]} {article}" if article and article != "el" else None
    return determiner_form(word, gender, number)


def determiner_features(word: str) -> tuple[str, str] | None:
    """(gender, number) of a determiner, "al" and "del" included."""
    if word in CONTRACTED:
        return "m", "sg"
    entry = DETERMINERS.get(word)
    return (entry[0], entry[1]) if entry is not None else None


# --- nouns --------------------------------------------------------------------------------

_VOWELS = "aeiouáéíóú"


def stressed_a(noun: str) -> bool:
    """A word starting with a stressed a- or ha- ("agua", "hambre", "área"): "el agua"."""
    word = noun.casefold()
    body = word[1:] if word.startswith("h") else word
    if body.startswith("á"):
        return True
    if not body.startswith("a") or any(c in body[1:] for c in "áéíóú"):
        return False
    syllables = len(re.findall(r"[aeiou]+", body.replace("ue", "e").replace("ua", "a")))
    return syllables <= 2 and word[-1] in _VOWELS + "ns"


@dataclass(frozen=True, slots=True)
class Head:
    """The gender and number of a noun, told by the dictionary alone."""

    gender: str
    number: str
    reading: Reading


def noun_head(token: Token | None) -> Head | None:
    """The noun's gender and number when every noun analysis agrees on them."""
    if token is None or not is_word(token) or token.text[:1].isupper() and token.start > 0:
        return None
    nouns = [r for r in token.readings if r.pos == "n"]
    if not nouns:
        return None
    genders = {gender_of(r) for r in nouns}
    numbers = {number_of(r) for r in nouns}
    if len(genders) != 1 or len(numbers) != 1 or stressed_a(token.text):
        return None
    if nouns[0].lemma in EITHER_GENDER:
        genders = {"mf"}
    gender, number = genders.pop(), numbers.pop()
    if gender is None or number is None:
        return None
    return Head(gender, number, nouns[0])


# --- pronouns -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pronoun:
    """A subject pronoun: its person and number, the gender it shows, its dative clitic."""

    person: str
    number: str
    gender: str | None  # None: the word does not show it ("yo", "usted")
    dative: str


PRONOUNS: dict[str, Pronoun] = {
    "yo": Pronoun("p1", "sg", None, "me"),
    "tú": Pronoun("p2", "sg", None, "te"),
    "él": Pronoun("p3", "sg", "m", "le"),
    "ella": Pronoun("p3", "sg", "f", "le"),
    "usted": Pronoun("p3", "sg", None, "le"),
    "nosotros": Pronoun("p1", "pl", "m", "nos"),
    "nosotras": Pronoun("p1", "pl", "f", "nos"),
    "ellos": Pronoun("p3", "pl", "m", "les"),
    "ellas": Pronoun("p3", "pl", "f", "les"),
    "ustedes": Pronoun("p3", "pl", None, "les"),
}
#: The subject pronouns the predicate and por/para checks look for (usted, ustedes left out).
SUBJECT_PRONOUNS = frozenset(PRONOUNS) - {"usted", "ustedes"}

# --- closed word classes ------------------------------------------------------------------

#: Degree words that may stand before an adjective ("una casa muy bonita").
DEGREE_WORDS = frozenset(
    "muy tan más menos bastante super súper realmente increíblemente extremadamente".split()
)
PREPOSITIONS = frozenset("a en de con por para sin sobre desde hasta hacia entre al del".split())
CLITICS = frozenset("me te se nos os lo la los las le les".split())
DATIVES = frozenset("me te le nos os les".split())
#: Verbs like gustar: the person who likes is the indirect object ("me gusta").
LIKE_VERBS = frozenset(
    "gustar encantar interesar fascinar molestar importar preocupar doler aburrir".split()
)
