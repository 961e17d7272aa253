"""Built-in Spanish checks: the rule engine's layer that needs no curriculum lexicon.

Each check finds one kind of learner mistake (gender and number agreement,
ser/estar, personal "a", por/para, missing articles, accents and spelling,
subject-verb agreement) from Apertium's morphology of the sentence
(:mod:`agents.lexicon_es`) and returns :class:`~agents.rules.ErrorEvent`
findings with ``source="rules"`` and ``rule`` set to the check's id. Checks
flag only what they can tell for certain from the words themselves; when the
morphology is not installed the checks that need it are skipped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agents.lexicon_es import (
    EITHER_GENDER,
    IDENTITY_ADJECTIVES,
    PERSON_NOUNS,
    PLACE_NOUNS,
    PROFESSION_NOUNS,
    STATE_ADJECTIVES,
    Reading,
    Token,
    analyser,
    known_words,
    zipf,
)
from agents.rules import ErrorEvent, _keep_case


@dataclass(frozen=True, slots=True)
class Finding:
    """A check's raw result; :class:`SpanishChecks` turns it into an ErrorEvent."""

    start: int
    end: int
    correction: str
    category: str
    rule: str
    fields: tuple[tuple[str, str], ...] = ()


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
        return before is None or before.text in {".", "!", "?", ";", ":", "¡", "¿", '"', "“"}

    def span(self, first: int, last: int) -> tuple[int, int, str]:
        start, end = self.tokens[first].start, self.tokens[last].end
        return start, end, self.text[start:end]


Check = Callable[[Sentence], Iterator[Finding]]

#: Per rule id: the note in each explanation language ({wrong} and {fix} filled in).
NOTES: dict[str, dict[str, str]] = {}
#: The checks, in order; each needs the morphology unless listed in TEXT_ONLY.
CHECKS: list[Check] = []
TEXT_ONLY: set[Check] = set()


def check(rule: str, en: str, es: str, *, text_only: bool = False) -> Callable[[Check], Check]:
    """Register a check under ``rule`` with its English and Spanish note."""

    def register(function: Check) -> Check:
        NOTES[rule] = {"en": en, "es": es}
        CHECKS.append(function)
        if text_only:
            TEXT_ONLY.add(function)
        return function

    return register


class SpanishChecks:
    """The built-in Spanish checks as one rule-engine layer (active for target "es" only)."""

    def __init__(self, target_language: str) -> None:
        self.active = target_language == "es"

    def check(self, text: str, explanation_language: str = "en") -> list[ErrorEvent]:
        if not self.active:
            return []
        text = unicodedata.normalize("NFC", text)
        morphology = analyser()
        tokens = morphology.tokens(text) if morphology is not None else None
        sentence = Sentence(text, tokens or [])
        found: list[ErrorEvent] = []
        for function in CHECKS:
            if tokens is None and function not in TEXT_ONLY:
                continue
            for finding in function(sentence):
                found.append(_event(text, finding, explanation_language))
        found.sort(key=lambda event: (event.start, -(event.end - event.start)))
        return found


def _event(text: str, finding: Finding, explanation_language: str) -> ErrorEvent:
    wrong = text[finding.start : finding.end]
    correction = _keep_case(wrong, finding.correction)
    notes = NOTES[finding.rule]
    template = notes.get(explanation_language) or notes["en"]
    note = template.format(wrong=wrong, fix=correction, **dict(finding.fields))
    return ErrorEvent(
        finding.category,
        finding.start,
        finding.end,
        wrong,
        correction,
        note,
        "rules",
        finding.rule,
    )


# --- morphology helpers -------------------------------------------------------------------

GENDERS = ("m", "f", "mf")
NUMBERS = ("sg", "pl", "sp")
_WORD = re.compile(r"^[^\W\d_]+$")


def is_word(token: Token | None) -> bool:
    return token is not None and bool(_WORD.match(token.text))


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


def inflect(reading: Reading, gender: str | None, number: str | None) -> str | None:
    """The form of ``reading``'s word with ``gender`` and ``number`` (None: keep its own)."""
    morphology = analyser()
    if morphology is None:
        return None
    tags = tuple(
        gender
        if tag in ("m", "f") and gender in ("m", "f")
        else number
        if tag in ("sg", "pl") and number in ("sg", "pl")
        else tag
        for tag in reading.tags
    )
    return morphology.generate(reading.lemma, tags)


FINITE = ("pri", "pii", "ifi", "fti", "cni", "prs", "pis", "fts", "imp")


def is_finite(reading: Reading) -> bool:
    return reading.pos in ("vblex", "vbser", "vbhaver", "vbmod") and any(
        tag in FINITE for tag in reading.tags
    )


# --- determiner, noun and adjective agreement ---------------------------------------------

#: Determiner paradigms: masculine singular, feminine singular, masculine plural, feminine plural
#: ("" where a form does not exist; mi/tu/su show number only).
_PARADIGMS = [
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
#: surface -> (gender, number, paradigm)
DETERMINERS: dict[str, tuple[str, str, tuple[str, str, str, str]]] = {}
for _paradigm in _PARADIGMS:
    for _form, (_gender, _number) in zip(_paradigm, _SLOTS, strict=True):
        if _form:
            _both = _paradigm[0] == _paradigm[1] or _paradigm[2] == _paradigm[3]
            DETERMINERS.setdefault(_form, ("mf" if _both else _gender, _number, _paradigm))
#: Determiners that are also object pronouns ("la veo"): the next word must be only a noun.
_ALSO_PRONOUNS = frozenset({"la", "las", "los"})
#: Determiners that are also adverbs ("como mucho", "un poco"): checked before nouns only.
_ALSO_ADVERBS = frozenset({"mucho", "poco", "tanto", "demasiado"})
#: Determiners that are never pronouns: before them a verb-or-noun word is a noun.
_NEVER_PRONOUNS = frozenset(
    {"el", "un", "al", "del", "mi", "mis", "tu", "tus", "su", "sus", "cada"}
)
_VOWELS = "aeiouáéíóú"


def determiner_form(word: str, gender: str, number: str) -> str | None:
    """``word``'s determiner with ``gender`` and ``number`` ("un", "f", "sg" -> "una")."""
    entry = DETERMINERS.get(word)
    if entry is None:
        return None
    paradigm = entry[2]
    wanted_gender = gender if gender in ("m", "f") else ("f" if entry[0] == "f" else "m")
    form = paradigm[_SLOTS.index((wanted_gender, number if number in ("sg", "pl") else entry[1]))]
    return form or None


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


_CONTRACTED = {"al": "a", "del": "de"}


def _determiner(word: str) -> tuple[str, str] | None:
    """(gender, number) of a determiner, "al" and "del" included."""
    if word in _CONTRACTED:
        return "m", "sg"
    entry = DETERMINERS.get(word)
    return (entry[0], entry[1]) if entry is not None else None


def _fixed_determiner(word: str, gender: str, number: str) -> str | None:
    if word in _CONTRACTED:
        article = determiner_form("el", gender, number)
        return f"{_CONTRACTED[word]} {article}" if article and article != "el" else None
    return determiner_form(word, gender, number)


@check(
    "es-determiner-noun",
    "The determiner agrees with the noun ({noun} is {what}): {fix}.",
    "El determinante concuerda con el nombre ({noun} es {what_es}): {fix}.",
)
def determiner_noun(sentence: Sentence) -> Iterator[Finding]:
    """ "un casa", "los ciudades", "mis tiempo", "el clase": the determiner follows the noun."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        own = _determiner(word)
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if own is None or head is None or noun is None:
            continue
        if word in _ALSO_PRONOUNS and not noun.only("n", "adj"):
            continue
        if word not in _NEVER_PRONOUNS and any(is_finite(r) for r in noun.readings):
            continue  # "estas son", "otro era": a pronoun and a verb
        if sentence.text[noun.end : noun.end + 1] in "/(" or sentence.word(index - 1) == "/":
            continue  # el/la entrenador/a
        if word in _ALSO_ADVERBS and (not noun.only("n") or _adverb_place(sentence, index)):
            continue
        if any(r.pos in ("n", "adj") and agrees(r, own[0], own[1]) for r in noun.readings):
            continue
        gender = head.gender if head.gender in ("m", "f") else own[0]
        number = head.number if head.number in ("sg", "pl") else own[1]
        fixed = _fixed_determiner(word, gender, number)
        if fixed is not None and fixed != word:
            fix = f"{fixed} {noun.text}"
        else:  # cada días: the noun changes
            form = inflect(head.reading, None, own[1]) if own[1] in ("sg", "pl") else None
            if form is None or form == noun.lower:
                continue
            fix = f"{token.text} {form}"
        start, end, _ = sentence.span(index, index + 1)
        wrong_gender = own[0] in ("m", "f") and head.gender in ("m", "f") and own[0] != head.gender
        category = "gender_agreement" if wrong_gender else "number_agreement"
        if word in _CONTRACTED and wrong_gender:
            category = "article_contraction"
        what = {"m": "masculine", "f": "feminine", "mf": ""}[head.gender]
        what_es = {"m": "masculino", "f": "femenino", "mf": ""}[head.gender]
        plural = head.number == "pl"
        fields = (
            ("noun", noun.text),
            ("what", f"{what} {'plural' if plural else 'singular'}".strip()),
            ("what_es", f"{what_es} {'plural' if plural else 'singular'}".strip()),
        )
        yield Finding(start, end, fix, category, "es-determiner-noun", fields)


#: Verbs after which "mucho" and its kin are determiners, not adverbs ("tengo mucha hambre").
_QUANTIFIED = frozenset({"tener", "haber", "hacer", "necesitar", "querer"})


def _adverb_place(sentence: Sentence, index: int) -> bool:
    """After a verb, "mucho" may be an adverb ("estudio mucho historia" is not "mucha")."""
    before = sentence.at(index - 1)
    verbs = [] if before is None else [r for r in before.readings if r.pos.startswith("vb")]
    return bool(verbs) and not all(r.lemma in _QUANTIFIED for r in verbs)


#: Degree words that may stand between a noun and its adjective ("una casa muy bonita").
_DEGREE = frozenset(
    "muy tan más menos bastante super súper realmente increíblemente extremadamente".split()
)
_AND = frozenset({"y", "e", "o", "u", "ni"})
_GENDER_WORDS = {"m": ("masculine", "masculino"), "f": ("feminine", "femenino")}
_NUMBER_WORDS = {"sg": ("singular", "singular"), "pl": ("plural", "plural")}


def _describe(gender: str | None, number: str | None) -> tuple[tuple[str, str], ...]:
    en = " ".join(
        w
        for w in (
            _GENDER_WORDS.get(gender or "", ("",))[0],
            _NUMBER_WORDS.get(number or "", ("",))[0],
        )
        if w
    )
    es = " ".join(
        w
        for w in (
            _GENDER_WORDS.get(gender or "", ("", ""))[1],
            _NUMBER_WORDS.get(number or "", ("", ""))[1],
        )
        if w
    )
    return (("what", en), ("what_es", es))


def adjective_like(token: Token | None) -> bool:
    """Can be an adjective (or participle) here and is no finite verb ("limpia" may be one)."""
    return (
        token is not None
        and is_word(token)
        and any(r.pos == "adj" or r.has("vblex", "pp") for r in token.readings)
        and not any(is_finite(r) for r in token.readings)
        and not token.can_be("det")
    )


def _adjective_fix(token: Token, gender: str | None, number: str | None) -> str | None:
    """The adjective's form for the head, or None when it already fits (or cannot be made)."""
    if any(r.pos in ("adj", "n", "vblex") and agrees(r, gender, number) for r in token.readings):
        return None
    for reading in token.readings:
        if reading.pos == "adj" or reading.has("vblex", "pp"):
            form = inflect(reading, gender, number)
            if form is not None and form.casefold() != token.lower:
                return form
    return None


def phrase_features(sentence: Sentence, index: int, head: Head) -> tuple[str | None, str | None]:
    """Gender and number of the noun phrase headed at ``index``; a determiner settles "mf"."""
    gender: str | None = head.gender if head.gender in ("m", "f") else None
    number: str | None = head.number if head.number in ("sg", "pl") else None
    own = _determiner(sentence.word(index - 1))
    if own is not None:
        gender = gender or (own[0] if own[0] in ("m", "f") else None)
        number = number or own[1]
    return gender, number


def _after_de(sentence: Sentence, index: int) -> tuple[bool, Head | None]:
    """In "N1 de (det) N2" with ``index`` at N2: (True, N1's analysis or None if unknown)."""
    back = index - 1
    if _determiner(sentence.word(back)) is not None:
        back -= 1
    if sentence.word(back) not in ("de", "del"):
        return False, None
    for offset in (1, 2):
        head = noun_head(sentence.at(back - offset))
        if head is not None:
            return True, head
    return True, None


#: Adjectives that often modify the verb or the subject rather than the noun before them
#: ("pasamos tiempo juntos", "corrió a casa rápido"); language names ("clases de español").
_NOT_ATTRIBUTIVE = frozenset(
    """junto solo pronto justo rápido lento temprano tarde derecho primero último puesto claro
    alto bajo directo medio mismo tal cierto seguido fuerte mal mínimo máximo
    muchísimo mucho poco igual posible extra gigante travieso
    español inglés francés alemán chino japonés italiano portugués árabe ruso coreano""".split()
)
_NOT_PREDICATIVE = frozenset("justo peor mejor igual mal así".split())
_PREPOSITIONS = frozenset("a en de con por para sin sobre desde hasta hacia entre al del".split())


@check(
    "es-adjective-agreement",
    "The adjective agrees with the noun {noun} ({what}): {fix}.",
    "El adjetivo concuerda con el nombre {noun} ({what_es}): {fix}.",
)
def adjective_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "la casa blanco", "los libros rojo", "una persona muy simpático": the adjective follows."""
    for index, token in enumerate(sentence.tokens):
        head = noun_head(token)
        if head is None:
            continue
        own = _determiner(sentence.word(index - 1))
        if not token.only("n") and (own is None or not agrees(head.reading, *own)):
            continue  # "casa" may be a verb unless a determiner says otherwise
        if own is not None and not agrees(head.reading, *own):
            continue  # "una carácter ficticia": the determiner check speaks first
        gender, number = phrase_features(sentence, index, head)
        before = sentence.word(index - 2 if own else index - 1)
        after_de, earlier = _after_de(sentence, index)
        if after_de and earlier is None:
            continue
        at = index + 1
        series = sentence.word(at) not in _DEGREE and _series(sentence, at)
        while True:
            while sentence.word(at) in _DEGREE:
                at += 1
            adjective = sentence.at(at)
            if adjective is None or not _attributive(sentence, at):
                break
            fix = _adjective_fix(adjective, gender, number)
            plural = any(number_of(r) == "pl" for r in adjective.readings)
            if before in _AND or plural and number == "sg" and before in _PREPOSITIONS | {","}:
                fix = None  # coordinated nouns, or a depictive ("llegamos a casa cansados")
            if series and number == "pl":
                fix = fix and _adjective_fix(adjective, gender, None)  # los colores rojo y azul
            if earlier is not None and any(
                agrees(r, earlier.gender, earlier.number) for r in adjective.readings
            ):
                fix = None
            if fix is not None:
                fields = (("noun", token.text), *_describe(gender, number))
                yield Finding(
                    adjective.start,
                    adjective.end,
                    fix,
                    "gender_agreement" if _gender_wrong(adjective, gender) else "number_agreement",
                    "es-adjective-agreement",
                    fields,
                )
            if sentence.word(at + 1) in _AND and adjective_like(sentence.at(at + 2)):
                at += 2
                continue
            break


def _attributive(sentence: Sentence, index: int, *, predicate: bool = False) -> bool:
    """The word at ``index`` can be an adjective of the noun before it (or the subject)."""
    token = sentence.at(index)
    if token is None or not adjective_like(token) or token.text[:1].isupper():
        return False
    excluded = _NOT_PREDICATIVE if predicate else _NOT_ATTRIBUTIVE
    if any(r.lemma in excluded for r in token.readings):
        return False
    if not any(r.pos == "adj" for r in token.readings):  # a bare participle: "llamada X"
        following = sentence.at(index + 1)
        return following is None or not is_word(following) or following.lower in _AND
    return True


def _series(sentence: Sentence, index: int) -> bool:
    """Two adjectives joined by "y" start at ``index`` ("rojo y azul")."""
    return sentence.word(index + 1) in _AND and adjective_like(sentence.at(index + 2))


def _gender_wrong(token: Token, gender: str | None) -> bool:
    return gender is not None and not any(
        agrees(r, gender, None) for r in token.readings if r.pos in ("adj", "vblex", "n")
    )


_COPULAS = frozenset({"ser", "estar", "parecer", "quedar"})
#: Subject pronouns: (gender, number) their predicate adjective takes (None: not shown).
SUBJECT_PRONOUNS: dict[str, tuple[str | None, str, str]] = {
    "yo": (None, "sg", "p1"),
    "tú": (None, "sg", "p2"),
    "él": ("m", "sg", "p3"),
    "ella": ("f", "sg", "p3"),
    "nosotros": ("m", "pl", "p1"),
    "nosotras": ("f", "pl", "p1"),
    "ellos": ("m", "pl", "p3"),
    "ellas": ("f", "pl", "p3"),
}
_CLAUSE_OPENERS = frozenset({"pero", "porque", "cuando", "aunque", "pues", "entonces", ","})


def _subject(sentence: Sentence, verb: int) -> tuple[int, str | None, str | None, str] | None:
    """The subject right before the verb at ``verb``: (first token, gender, number, person)."""
    word = sentence.word(verb - 1)
    gender: str | None
    number: str | None
    name = sentence.at(verb - 1)
    names = [r for r in name.readings if r.has("np", "ant")] if name is not None else []
    if word in SUBJECT_PRONOUNS:
        first = verb - 1
        gender, number, person = SUBJECT_PRONOUNS[word]
        if sentence.word(first - 1) in ("y", "que"):
            return first, gender, number, person
    elif len(names) == 1 and gender_of(names[0]) in ("m", "f") and name is not None:
        first, gender, number, person = verb - 1, gender_of(names[0]), "sg", "p3"
        if name.can_be("n") or name.can_be("adj") or sentence.word(first - 1) == "a":
            return None
    else:
        head = noun_head(sentence.at(verb - 1))
        own = _determiner(sentence.word(verb - 2))
        if head is None or own is None or not agrees(head.reading, *own):
            return None
        first, person = verb - 2, "p3"
        gender, number = phrase_features(sentence, verb - 1, head)
    if not (sentence.starts_clause(first) or sentence.word(first - 1) in _CLAUSE_OPENERS):
        return None
    return first, gender, number, person


@check(
    "es-predicate-agreement",
    "The adjective agrees with the subject {subject} ({what}): {fix}.",
    "El adjetivo concuerda con el sujeto {subject} ({what_es}): {fix}.",
)
def predicate_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "la comida es bueno", "ella está cansado", "mis ojos son azul": ser/estar + adjective."""
    for index, token in enumerate(sentence.tokens):
        copulas = [r for r in token.readings if r.lemma in _COPULAS and is_finite(r)]
        if not copulas or any(r not in copulas and r.pos != "n" for r in token.readings):
            continue  # "son" may be a noun, but not after a subject
        subject = _subject(sentence, index)
        if subject is None:
            continue
        first, gender, number, person = subject
        if not any(r.has(person, number or "sg") for r in copulas):
            continue  # "la gente son": the verb is the mistake
        at = index + 1
        while sentence.word(at) in _DEGREE or sentence.word(at) == "no":
            at += 1
        if sentence.word(at) == "un" and sentence.word(at + 1) == "poco":
            at += 2
        adjective = sentence.at(at)
        if adjective is None or not _attributive(sentence, at, predicate=True):
            continue
        fix = _adjective_fix(adjective, gender, number)
        if fix is None:
            continue
        subject_text = sentence.span(first, index - 1)[2]
        yield Finding(
            adjective.start,
            adjective.end,
            fix,
            "gender_agreement" if _gender_wrong(adjective, gender) else "number_agreement",
            "es-predicate-agreement",
            (("subject", subject_text), *_describe(gender, number)),
        )


# --- ser and estar ---------------------------------------------------------------------------

_SWAP = {"ser": ("estar", "vblex"), "estar": ("ser", "vbser")}
_TIME_NOUNS = frozenset("poco rato momento tiempo día mes año semana vez minuto hora".split())
_WHY = {
    "state": ("estar is for states and feelings", "estar expresa estados y sentimientos"),
    "place": ("estar is for where someone is", "estar expresa dónde está alguien"),
    "gerund": ("the progressive is estar + -ando/-iendo", "el progresivo es estar + gerundio"),
    "identity": (
        "ser is for identity, profession and origin",
        "ser expresa identidad, profesión y origen",
    ),
}


def _swapped(reading: Reading) -> str | None:
    other, pos = _SWAP[reading.lemma]
    morphology = analyser()
    return morphology.generate(other, (pos, *reading.tags[1:])) if morphology else None


def _ser_estar_reason(sentence: Sentence, index: int, reading: Reading) -> str | None:
    following = sentence.at(index + 1)
    if following is None:
        return None
    word = following.lower
    if reading.lemma == "ser":
        if following.readings and all(r.has("vblex", "ger") for r in following.readings):
            return "gerund" if _personal_subject(sentence, index, reading) else None
        if not reading.has("pri") and not reading.has("pii"):
            return None  # fue cansado por... may be a passive
        at = index + 1
        while sentence.word(at) in _DEGREE:
            at += 1
        adjective = sentence.at(at)
        if (
            adjective is not None
            and sentence.word(at + 1) != "por"
            and any(r.lemma in STATE_ADJECTIVES for r in adjective.readings)
        ):
            return "state"
        if word == "en" and _personal_subject(sentence, index, reading):
            return "place"
        return None
    if word in ("un", "una") and sentence.word(index + 2) not in _TIME_NOUNS:
        noun = sentence.at(index + 2)
        if noun is not None and noun.only("n"):
            return "identity"
    at = index + 1
    while sentence.word(at) in _DEGREE:
        at += 1
    if word in PROFESSION_NOUNS or any(
        r.lemma in IDENTITY_ADJECTIVES for r in _readings(sentence.at(at))
    ):
        return "identity"
    if word == "de" and any(r.has("np", "loc") for r in _readings(sentence.at(index + 2))):
        return "identity"
    return None


def _readings(token: Token | None) -> tuple[Reading, ...]:
    return token.readings if token is not None else ()


def _personal_subject(sentence: Sentence, index: int, reading: Reading) -> bool:
    """The subject of a form of ser is a person: I, you, we, or a pronoun or name right before."""
    if reading.has("p1") or reading.has("p2"):
        return True
    before = sentence.at(index - 1)
    return before is not None and (
        before.lower in ("él", "ella", "ellos", "ellas", "usted", "ustedes")
        or any(r.has("np", "ant") for r in before.readings)
    )


@check(
    "es-ser-estar",
    "Here it is {other}, not {verb} ({why}): {fix}.",
    "Aquí va {other}, no {verb} ({why_es}): {fix}.",
)
def ser_estar(sentence: Sentence) -> Iterator[Finding]:
    """ "soy cansado", "es en la casa", "soy estudiando" -> estar; "estoy estudiante" -> ser."""
    for index, token in enumerate(sentence.tokens):
        readings = [r for r in token.readings if r.lemma in _SWAP and is_finite(r)]
        if not readings or len(readings) != len(token.readings):
            continue
        reason = _ser_estar_reason(sentence, index, readings[0])
        fix = _swapped(readings[0]) if reason else None
        if reason is None or fix is None:
            continue
        other = _SWAP[readings[0].lemma][0]
        why, why_es = _WHY[reason]
        fields = (("verb", readings[0].lemma), ("other", other), ("why", why), ("why_es", why_es))
        yield Finding(token.start, token.end, fix, "ser_estar", "es-ser-estar", fields)


# --- personal a ------------------------------------------------------------------------------

#: Verbs whose person object takes "a" ("visito a mi abuela", "conozco a Juan").
PERSONAL_A_VERBS = frozenset(
    """conocer visitar ver ayudar llamar amar odiar abrazar besar invitar respetar extrañar
    admirar escuchar mirar cuidar apoyar saludar acompañar querer entender comprender
    encontrar esperar echar elogiar criticar motivar inspirar entrenar imitar matar proteger
    atacar derrotar contratar llevar necesitar""".split()
)
#: Verbs whose object is almost never a place or a title: a person's name after them takes
#: "a" ("ayudo a Camila"; but "visito Venecia", "vi Titanic").
_NAME_VERBS = frozenset(
    """ayudar llamar amar odiar abrazar besar invitar respetar admirar cuidar apoyar saludar
    acompañar""".split()
)
#: Words that open a definite (or quantified) object: "visito mi abuela", "ayudo esa persona".
_POSSESSIVES = frozenset(
    """mi mis tu tus su sus nuestro nuestra nuestros nuestras vuestro vuestra el la los las
    este esta estos estas ese esa esos esas muchos muchas todos todas""".split()
)
_CLITICS = frozenset("me te se nos os lo la los las le les".split())


def _person_object(sentence: Sentence, index: int, lemma: str) -> bool:
    """The words after the verb at ``index`` name a definite person."""
    first = sentence.at(index + 1)
    if first is None:
        return False
    if first.lower in _POSSESSIVES and not first.text[:1].isupper():  # "viendo Las Chicas..."
        at = (
            index + 3
            if first.lower in ("todos", "todas")
            and sentence.word(index + 2) in ("los", "las", "mis", "sus", "tus")
            else index + 2
        )
        noun = sentence.at(at)
        return (
            noun is not None
            and (noun.lower in PERSON_NOUNS or any(r.lemma in PERSON_NOUNS for r in noun.readings))
            and (noun.lower != "familia" or lemma in ("visitar", "ayudar", "llamar", "extrañar"))
        )
    names = [r for r in first.readings if r.has("np", "ant")]
    return (
        bool(names)
        and len(names) == len(first.readings)
        and lemma in _NAME_VERBS
        and sentence.word(index + 2) not in ("de", "del")
    )


@check(
    "es-personal-a",
    'A person as direct object takes "a": {fix}.',
    'Una persona como complemento directo lleva "a": {fix}.',
)
def personal_a(sentence: Sentence) -> Iterator[Finding]:
    """ "visito mi abuela" -> "visito a mi abuela"; "conozco Juan" -> "conozco a Juan"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        verbs = [
            r
            for r in token.readings
            if r.lemma in PERSONAL_A_VERBS and r.pos == "vblex" and not r.has("pp")
        ]
        if not verbs or token.can_be("n") or token.can_be("adj") or verbs[0].more:
            continue  # a noun, or the object is already there: "visitarla"
        lemma = verbs[0].lemma
        if sentence.word(index - 1) in _CLITICS:
            continue  # "me llamo Juan", "me visitó mi madre": not a person object
        if lemma == "echar" and not token.lower.endswith("de menos"):
            continue  # only "echar de menos" (one token for the analyser) misses a person
        if not _person_object(sentence, index, lemma):
            continue
        following = sentence.tokens[index + 1]
        start, end = token.start, following.end
        object_text = following.text
        fix = "al" if following.lower == "el" else f"a {object_text}"
        correction = sentence.text[token.start : following.start] + fix
        yield Finding(start, end, correction, "personal_a", "es-personal-a")


# --- por and para ----------------------------------------------------------------------------

#: Fixed expressions with "por" that learners build with "para" (and the reverse).
_POR_PARA_FIXED: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\bpara (ejemplo|favor|supuesto|fin|cierto|último|lo menos|lo tanto|"
            r"lo general|lo visto|todas partes|suerte|desgracia|primera vez|la primera vez|"
            r"eso mismo)\b",
            re.IGNORECASE,
        ),
        r"por \1",
    ),
    (
        re.compile(
            r"\b(gracias|agradecid[oa]s?|conocid[oa]s?|emocionad[oa]s?|"
            r"votar|voto|votó|votaron) para\b",
            re.IGNORECASE,
        ),
        r"\1 por",
    ),
]
_DURATION = re.compile(
    r"\bpara ((?:un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|doce|quince|veinte|"
    r"treinta|unos|unas|varios|varias|muchos|muchas|algunos|algunas|mucho|poco|pocos|pocas|"
    r"\d+) (?:hora|horas|minuto|minutos|día|días|semana|semanas|mes|meses|año|años|rato|"
    r"tiempo)|la (?:mañana|tarde|noche))\b",
    re.IGNORECASE,
)
_POR_PARA_WHY = {
    "fixed": ("in this expression", "en esta expresión"),
    "duration": (
        "for how long something lasts or the part of the day",
        "para la duración o la parte del día",
    ),
}


@check(
    "es-por-para",
    "Use por {why}: {fix}.",
    "Se usa por {why_es}: {fix}.",
    text_only=True,
)
def por_para(sentence: Sentence) -> Iterator[Finding]:
    """ "gracias para" -> "gracias por"; "para ejemplo" -> "por ejemplo"; "trabajo para dos
    horas" -> "por dos horas" (after a verb only: "comida para dos días" is right)."""
    text = sentence.text
    for pattern, replacement in _POR_PARA_FIXED:
        for match in pattern.finditer(text):
            why, why_es = _POR_PARA_WHY["fixed"]
            yield Finding(
                match.start(),
                match.end(),
                match.expand(replacement),
                "por_para",
                "es-por-para",
                (("why", why), ("why_es", why_es)),
            )
    starts = {token.start: index for index, token in enumerate(sentence.tokens)}
    for match in _DURATION.finditer(text):
        index = starts.get(match.start())
        if index is None or not _verb_here(sentence, index - 1):
            continue
        why, why_es = _POR_PARA_WHY["duration"]
        yield Finding(
            match.start(),
            match.start() + 4,
            "por",
            "por_para",
            "es-por-para",
            (("why", why), ("why_es", why_es)),
        )


def _verb_here(sentence: Sentence, index: int) -> bool:
    """The word at ``index`` is a verb: it can only be one, or a noun reading is ruled out
    by what comes before ("yo trabajo", "no trabajo", "Trabajo" opening the sentence)."""
    token = sentence.at(index)
    if token is None or not any(is_finite(r) or r.has("inf") for r in token.readings):
        return False
    if not token.can_be("n"):
        return True
    before = sentence.word(index - 1)
    return (
        sentence.starts_clause(index)
        or before in SUBJECT_PRONOUNS
        or before in _CLITICS | {"no", "también", "siempre", "nunca"}
    )


# --- missing articles ------------------------------------------------------------------------

_LIKE_VERBS = frozenset(
    "gustar encantar interesar fascinar molestar importar preocupar doler aburrir".split()
)
_DATIVES = frozenset("me te le nos os les".split())
_FILLERS = frozenset("mucho muchísimo más también bastante tanto realmente".split())
_ARTICLES = {("m", "sg"): "el", ("f", "sg"): "la", ("m", "pl"): "los", ("f", "pl"): "las"}


def _bare_noun(token: Token | None) -> Head | None:
    """A common noun with nothing else it could be (not a name, adjective or verb form)."""
    if token is None or not token.only("n"):
        return None
    head = noun_head(token)
    if head is None or head.gender not in ("m", "f") or head.number not in ("sg", "pl"):
        return None
    return head


def _with_article(noun: Token, head: Head, text: str) -> str:
    article = _ARTICLES[(head.gender, head.number)]
    return f"{article} {text}"


_MONTHS = frozenset(
    """enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre
    diciembre""".split()
)


@check(
    "es-article-liked",
    "What is liked is a definite thing and takes an article: {fix}.",
    "Lo que gusta es algo definido y lleva artículo: {fix}.",
)
def liked_article(sentence: Sentence) -> Iterator[Finding]:
    """ "me gusta música" -> "me gusta la música"; "me gusta perros" -> "me gustan los perros"."""
    for index, token in enumerate(sentence.tokens):
        verbs = [r for r in token.readings if r.lemma in _LIKE_VERBS and is_finite(r)]
        if sentence.word(index - 1) not in _DATIVES or not verbs:
            continue
        at = index + 1
        while sentence.word(at) in _FILLERS:
            at += 1
        noun = sentence.at(at)
        head = _bare_noun(noun)
        if noun is None or head is None or not noun.text.islower() or noun.lower in _MONTHS:
            continue
        verb = token.text
        if not any(r.has(head.number) for r in verbs):
            morphology = analyser()
            tags = tuple(head.number if t in ("sg", "pl") else t for t in verbs[0].tags)
            verb = (morphology.generate(verbs[0].lemma, tags) if morphology else None) or verb
        middle = sentence.text[token.end : noun.start]
        fix = f"{verb}{middle}{_with_article(noun, head, noun.text)}"
        yield Finding(token.start, noun.end, fix, "article", "es-article-liked")


@check(
    "es-article-subject",
    "A noun as the subject takes an article: {fix}.",
    "Un nombre como sujeto lleva artículo: {fix}.",
)
def subject_article(sentence: Sentence) -> Iterator[Finding]:
    """ "Gente es simpática" -> "La gente es simpática" (a common noun opening the sentence)."""
    for index, token in enumerate(sentence.tokens):
        head = _bare_noun(token)
        if (
            head is not None
            and sentence.starts_clause(index)
            and token.text[:1].isupper()
            and _generic(head)
            and _subject_verb(sentence.at(index + 1), head)
        ):
            fix = _with_article(token, head, token.text[:1].lower() + token.text[1:])
            yield Finding(token.start, token.end, fix, "article", "es-article-subject")


_ABSTRACT = re.compile(r"(dad|tad|tud|ción|sión|ismo|ía|eza|ura|encia|ancia)$")
_MASS = frozenset("gente vida música comida amor dinero naturaleza fútbol agua ropa".split())


def _generic(head: Head) -> bool:
    """A plural, abstract or mass noun: opening a sentence bare, it is no name ("Galleta")."""
    lemma = head.reading.lemma
    return head.number == "pl" or lemma in _MASS or bool(_ABSTRACT.search(lemma))


@check(
    "es-article-place",
    "Places like this take an article: {fix}.",
    "Lugares como este llevan artículo: {fix}.",
)
def place_article(sentence: Sentence) -> Iterator[Finding]:
    """ "voy a escuela" -> "voy a la escuela"; "en colegio" -> "en el colegio"."""
    for index, token in enumerate(sentence.tokens):
        head = _bare_noun(token)
        if (
            head is not None
            and sentence.word(index - 1) in ("a", "en")
            and token.lower in PLACE_NOUNS
            and head.number == "sg"
        ):
            before = sentence.tokens[index - 1]
            article = _ARTICLES[(head.gender, "sg")]
            fix = "al" if before.lower == "a" and article == "el" else f"{before.text} {article}"
            yield Finding(
                before.start, token.end, f"{fix} {token.text}", "article", "es-article-place"
            )


def _subject_verb(token: Token | None, head: Head) -> bool:
    """A finite verb in the third person agreeing with ``head`` (and nothing else)."""
    return (
        token is not None
        and bool(token.readings)
        and all(is_finite(r) and r.has("p3", head.number) for r in token.readings)
    )


# --- accents and spelling --------------------------------------------------------------------

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


@check(
    "es-accent",
    "Spelling: {fix} has a written accent.",
    "Ortografía: {fix} lleva tilde.",
)
def accent(sentence: Sentence) -> Iterator[Finding]:
    """Words the dictionary does not know whose accented form it does: "tambien", "cancion"."""
    for index, token in enumerate(sentence.tokens):
        if not _unknown_word(sentence, index):
            continue
        lower = token.lower
        if zipf(lower, "en") >= 4.0:
            continue  # an English word: "the", "classes"
        variants = _accent_variants(lower)
        fix = _best([v for v in variants if "ñ" not in v or "ñ" in lower], lower, 0.0)
        if fix is not None:
            yield Finding(token.start, token.end, fix, "spelling_accent", "es-accent")
            continue
        fix = _best(_spelling_variants(lower) + variants, lower, 1.0)
        if fix is not None:
            yield Finding(token.start, token.end, fix, "spelling", "es-spelling")


NOTES["es-spelling"] = {"en": "Spelling: {fix}.", "es": "Ortografía: {fix}."}


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


def _only_finite(token: Token | None) -> bool:
    return token is not None and bool(token.readings) and all(is_finite(r) for r in token.readings)


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
        and _only_finite(following)
        and any(r.has("p3", "sg") and _indicative(r) for r in _readings(following))
    ):  # "el anime" is no subjunctive or command
        return "él"
    if (
        word == "tu"
        and _only_finite(following)
        and any(r.has("p2", "sg") for r in _readings(following))
    ):
        return "tú"
    if (
        word == "mi"
        and sentence.word(index - 1) in _PREPOSITIONS
        and (
            following is None
            or following.text in {".", ",", "!", "?", ";", ":", ")"}
            or after in {"me", "también", "y", "no"}
            or _only_finite(following)
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


# --- subject and verb ------------------------------------------------------------------------

_SUBJECTS: dict[str, tuple[str, str]] = {
    "yo": ("p1", "sg"),
    "tú": ("p2", "sg"),
    "él": ("p3", "sg"),
    "ella": ("p3", "sg"),
    "usted": ("p3", "sg"),
    "nosotros": ("p1", "pl"),
    "nosotras": ("p1", "pl"),
    "ellos": ("p3", "pl"),
    "ellas": ("p3", "pl"),
    "ustedes": ("p3", "pl"),
}
_BETWEEN = frozenset(
    "no también siempre nunca ya todavía me te se nos os lo la los las le les".split()
)
_DATIVE_OF = {
    "yo": "me",
    "tú": "te",
    "él": "le",
    "ella": "le",
    "usted": "le",
    "nosotros": "nos",
    "nosotras": "nos",
    "ellos": "les",
    "ellas": "les",
    "ustedes": "les",
}
_PERIODS = frozenset(
    "día semana mes año vez noche mañana tarde fin lunes martes miércoles jueves "
    "viernes sábado domingo verano invierno otoño primavera mayoría resto mitad "
    "grupo".split()
)


def _agreeing_form(reading: Reading, person: str, number: str) -> str | None:
    morphology = analyser()
    tags = tuple(
        person if t in ("p1", "p2", "p3") else number if t in ("sg", "pl") else t
        for t in reading.tags
    )
    return morphology.generate(reading.lemma, tags) if morphology else None


def _subject_at(sentence: Sentence, index: int) -> tuple[str, str, int] | None:
    """(person, number, last token) of a subject opening a clause at ``index``."""
    if not (sentence.starts_clause(index) or sentence.word(index - 1) in _CLAUSE_OPENERS):
        return None
    word = sentence.word(index)
    if word in _SUBJECTS:
        return (*_SUBJECTS[word], index)
    own = _determiner(word)
    head = noun_head(sentence.at(index + 1))
    if own is None or head is None:
        return None
    if head.reading.lemma in _PERIODS or not agrees(head.reading, *own) or word in _ALSO_ADVERBS:
        return None
    number = head.number if head.number in ("sg", "pl") else own[1]
    return "p3", number, index + 1


@check(
    "es-subject-verb",
    "The verb agrees with its subject {subject}: {fix}.",
    "El verbo concuerda con su sujeto {subject}: {fix}.",
)
def subject_verb(sentence: Sentence) -> Iterator[Finding]:
    """ "yo es" -> "yo soy"; "ellos tiene" -> "ellos tienen"; "mis padres es" -> "son"."""
    for index in range(len(sentence)):
        subject = _subject_at(sentence, index)
        if subject is None:
            continue
        person, number, last = subject
        at = last + 1
        clitic = False
        while sentence.word(at) in _BETWEEN:
            clitic = clitic or sentence.word(at) in _CLITICS
            at += 1
        verb = sentence.at(at)
        if verb is None or not _only_finite(verb) or " " in verb.text:
            continue
        if any(r.has(person, number) for r in verb.readings):
            continue
        if clitic and any(r.has("p3") for r in verb.readings):
            continue  # "yo me ha apasionado": the clitic is the one affected
        reading = verb.readings[0]
        if (
            reading.lemma in _LIKE_VERBS
            or reading.lemma == "ser"
            and number == "sg"
            and person == "p3"
        ):
            continue  # "yo gusta" is the gustar check's; "mi problema son los exámenes"
        subject_text = sentence.span(index, last)[2]
        preterite = verb.lower[:-1] + "ó"
        if (
            (person, number) == ("p3", "sg")
            and verb.lower.endswith("o")
            and known_words([preterite])
        ):  # "ella me ayudo": the past tense without its accent
            yield Finding(verb.start, verb.end, preterite, "spelling_accent", "es-accent-context")
            continue
        fix = _agreeing_form(reading, person, number)
        if fix is None or fix.casefold() == verb.lower:
            continue
        yield Finding(
            verb.start,
            verb.end,
            fix,
            "verb_conjugation",
            "es-subject-verb",
            (("subject", subject_text),),
        )


@check(
    "es-gustar",
    "With gustar, the person who likes is the indirect object: {fix}.",
    "Con gustar, quien siente el gusto es el complemento indirecto: {fix}.",
)
def gustar_subject(sentence: Sentence) -> Iterator[Finding]:
    """ "yo gusta" -> "me gusta"; "ella le gusta" -> "a ella le gusta"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        if word not in _DATIVE_OF or sentence.word(index - 1) in _PREPOSITIONS:
            continue
        following = sentence.tokens[index + 1]
        verbs = [r for r in following.readings if r.lemma in _LIKE_VERBS and is_finite(r)]
        if verbs and following.only("vblex"):
            verb = _agreeing_form(verbs[0], "p3", number_of(verbs[0]) or "sg")
            fix = f"{_DATIVE_OF[word]} {verb or following.text}"
            yield Finding(token.start, following.end, fix, "gustar", "es-gustar")
            continue
        third = sentence.at(index + 2)
        if (
            following.lower in _DATIVES
            and third is not None
            and any(r.lemma in _LIKE_VERBS and is_finite(r) for r in third.readings)
            and (sentence.starts_clause(index) or sentence.word(index - 1) in _CLAUSE_OPENERS)
        ):
            yield Finding(token.start, token.end, f"a {word}", "gustar", "es-gustar")
