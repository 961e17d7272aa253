"""Prepositions learners leave out or choose wrongly: personal "a", por and para.

The personal "a" check flags a definite person as the direct object of a verb
that takes one ("visito mi abuela" -> "visito a mi abuela"). The por/para check
needs no morphology for its fixed expressions ("gracias para" -> "gracias
por"); for a duration ("trabajo para dos horas") it needs the word before to be
a verb, since "comida para dos días" is right.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.checks_es.sentence import Finding, Sentence, check, is_finite
from agents.checks_es.words import CLITICS, SUBJECT_PRONOUNS
from agents.lexicon_es import PERSON_NOUNS, PLACE_NOUNS

# --- personal a ---------------------------------------------------------------------------

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


#: Pronouns that, as the object of these verbs, need "a" ("veo a ella" or "la veo").
_OBJECT_PRONOUNS = frozenset("él ella ellos ellas usted ustedes".split())
_QUESTION_WORDS = frozenset("qué quién quiénes cómo dónde cuándo cuál cuánto".split())


def _person_object(sentence: Sentence, index: int, lemma: str) -> bool:
    """The words after the verb at ``index`` name a definite person."""
    first = sentence.at(index + 1)
    if first is None:
        return False
    if first.lower in _OBJECT_PRONOUNS:
        # "visitar ellos" -> "a ellos"; not in a question, where it may be the subject
        return "?" not in sentence.text and sentence.word(index - 1) not in _QUESTION_WORDS
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
        if sentence.word(index - 1) in CLITICS:
            continue  # "me llamo Juan", "me visitó mi madre": not a person object
        if lemma == "echar" and not token.lower.endswith("de menos"):
            continue  # only "echar de menos" (one token for the analyser) misses a person
        if not _person_object(sentence, index, lemma):
            continue
        following = sentence.tokens[index + 1]
        fix = "al" if following.lower == "el" else f"a {following.text}"
        correction = sentence.text[token.start : following.start] + fix
        yield Finding(token.start, following.end, correction, "personal_a", "es-personal-a")


# --- por and para -------------------------------------------------------------------------

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
    (  # a feeling about someone: "feliz por ella", "miedo por mi madre"
        re.compile(
            r"\b(feliz|felices|content[oa]s?|orgullos[oa]s?|preocupad[oa]s?|miedo|"
            r"respeto|admiración|pena|triste|tristes) para (mí|ti|él|ella|nosotros|nosotras|"
            r"ellos|ellas|usted|ustedes|mi|tu|su|sus|mis|tus|la|el|los|las)\b",
            re.IGNORECASE,
        ),
        r"\1 por \2",
    ),
]
_DURATION = re.compile(
    r"\bpara ((?:un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|doce|quince|veinte|"
    r"treinta|unos|unas|varios|varias|muchos|muchas|algunos|algunas|mucho|poco|pocos|pocas|"
    r"\d+) (?:hora|horas|minuto|minutos|día|días|semana|semanas|mes|meses|año|años|rato|"
    r"tiempo)|la (?:mañana|tarde|noche))\b",
    re.IGNORECASE,
)
#: The note's {why} and {why_es} for a fixed expression and for a duration.
_FIXED_WHY = (("why", "in this expression"), ("why_es", "en esta expresión"))
_DURATION_WHY = (
    ("why", "for how long something lasts or the part of the day"),
    ("why_es", "para la duración o la parte del día"),
)


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
            fix = match.expand(replacement)
            yield Finding(match.start(), match.end(), fix, "por_para", "es-por-para", _FIXED_WHY)
    starts = {token.start: index for index, token in enumerate(sentence.tokens)}
    for match in _DURATION.finditer(text):
        index = starts.get(match.start())
        if index is None or not (_verb_here(sentence, index - 1) or _no_noun(sentence, index - 1)):
            continue
        start = match.start()
        yield Finding(start, start + 4, "por", "por_para", "es-por-para", _DURATION_WHY)


def _no_noun(sentence: Sentence, index: int) -> bool:
    """Before "para dos horas" stands no noun it could be for ("juntos para seis meses",
    "todos los días para una hora"): an adjective or adverb only."""
    token = sentence.at(index)
    return (
        token is not None
        and bool(token.readings)
        and all(r.pos in ("adj", "adv") or r.has("vblex", "pp") for r in token.readings)
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
        or before in CLITICS | {"no", "también", "siempre", "nunca"}
    )


#: Things a learner visits, sees or listens to: no personal "a" before them.
_THINGS = PLACE_NOUNS | frozenset(
    """lugar lugares país países tienda tiendas parque parques playa playas montaña montañas
    museo museos ciudad ciudades pueblo pueblos monumento monumentos paisaje paisajes
    música canción canciones película películas programa programas árbol árboles
    edificio edificios templo templos catedral catedrales ruina ruinas""".split()
)
_PLACE_VERBS = frozenset("visitar conocer ver escuchar explorar".split())


@check(
    "es-no-personal-a",
    'A thing or a place as direct object takes no "a": {fix}.',
    'Una cosa o un lugar como complemento directo no lleva "a": {fix}.',
)
def no_personal_a(sentence: Sentence) -> Iterator[Finding]:
    """ "visitar a las tiendas" -> "visitar las tiendas"; "escuchar a música" -> "escuchar
    música"."""
    for index, token in enumerate(sentence.tokens[:-2]):
        if not any(
            r.lemma in _PLACE_VERBS and r.pos == "vblex" and not r.has("pp") for r in token.readings
        ):
            continue
        if sentence.word(index + 1) != "a":
            continue
        at = index + 2
        if sentence.word(at) in _POSSESSIVES:
            at += 1
        while (adjective := sentence.at(at)) is not None and adjective.only("adj"):
            at += 1
        noun = sentence.at(at)
        if noun is None or noun.lower not in _THINGS or not noun.text.islower():
            continue
        after = sentence.tokens[index + 2]
        fix = sentence.text[token.start : token.end] + " " + after.text
        yield Finding(token.start, after.end, fix, "personal_a", "es-no-personal-a")
