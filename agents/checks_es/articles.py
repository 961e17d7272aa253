"""Missing definite articles, where Spanish needs one and English has none.

Three places: what is liked after gustar and its kin ("me gusta música" ->
"me gusta la música"), a common noun as the subject opening a sentence or a
clause ("Gente es simpática" -> "La gente es simpática", "porque personas
son..." -> "porque las personas son..."), and common places after "a", "en",
"para" or "cerca de" ("voy a escuela" -> "voy a la escuela"). Only a noun with no
other reading counts, so names and verb forms are left alone. (A body part after
tener, "tiene pelo largo", is left alone too: the article is usual, not required.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.checks_es.sentence import (
    Finding,
    Sentence,
    agreeing_adjective,
    check,
    finite_readings,
    inflect,
    is_finite,
    nominal,
)
from agents.checks_es.words import DATIVES, LIKE_VERBS, Head, noun_head
from agents.lexicon_es import PLACE_NOUNS, Token

_ARTICLES = {("m", "sg"): "el", ("f", "sg"): "la", ("m", "pl"): "los", ("f", "pl"): "las"}


def _bare_noun(token: Token | None) -> Head | None:
    """A common noun with nothing else it could be (not a name, adjective or verb form)."""
    if not nominal(token) or token is None:
        return None  # "comida" may be a participle, "cosas" a verb form: both only in name
    head = noun_head(token)
    if head is None or head.gender not in ("m", "f") or head.number not in ("sg", "pl"):
        return None
    return head


def _with_article(head: Head, text: str) -> str:
    return f"{_ARTICLES[(head.gender, head.number)]} {text}"


# --- what is liked ------------------------------------------------------------------------

#: Words that may stand between gustar and what is liked ("me gusta mucho la música").
_FILLERS = frozenset("mucho muchísimo más también bastante tanto realmente".split())
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
        verbs = finite_readings(token, LIKE_VERBS)
        if sentence.word(index - 1) not in DATIVES or not verbs:
            continue
        noun = sentence.at(sentence.skip(index + 1, _FILLERS))
        head = _bare_noun(noun)
        if noun is None or head is None or not noun.text.islower() or noun.lower in _MONTHS:
            continue
        verb = token.text
        if not any(r.has(head.number) for r in verbs):
            verb = inflect(verbs[0], number=head.number) or verb  # "me gustan los perros"
        middle = sentence.text[token.end : noun.start]
        fix = f"{verb}{middle}{_with_article(head, noun.text)}"
        yield Finding(token.start, noun.end, fix, "article", "es-article-liked")


# --- the subject --------------------------------------------------------------------------

_ABSTRACT = re.compile(r"(dad|tad|tud|ción|sión|ismo|ía|eza|ura|encia|ancia)$")
_MASS = frozenset("gente vida música comida amor dinero naturaleza fútbol agua ropa".split())


def _generic(head: Head) -> bool:
    """A plural, abstract or mass noun: opening a sentence bare, it is no name ("Galleta")."""
    lemma = head.reading.lemma
    return head.number == "pl" or lemma in _MASS or bool(_ABSTRACT.search(lemma))


def _subject_verb(token: Token | None, head: Head) -> bool:
    """A finite verb in the third person agreeing with ``head`` (and nothing else)."""
    return (
        token is not None
        and bool(token.readings)
        and all(is_finite(r) and r.has("p3", head.number) for r in token.readings)
    )


@check(
    "es-article-subject",
    "A noun as the subject takes an article: {fix}.",
    "Un nombre como sujeto lleva artículo: {fix}.",
)
def subject_article(sentence: Sentence) -> Iterator[Finding]:
    """ "Gente es simpática" -> "La gente es simpática" (a common noun opening the sentence)."""
    for index, token in enumerate(sentence.tokens):
        head = _bare_noun(token)
        if head is None or head.reading.lemma in _NO_ARTICLE:
            continue
        if sentence.starts_clause(index):
            if not token.text[:1].isupper() or not _generic(head):
                continue  # a capitalised singular could be a name ("Galleta es...")
        elif (
            sentence.word(index - 1) not in _SUBORDINATORS
            or not token.text.islower()
            or any(is_finite(r) for r in token.readings)
        ):
            continue  # "cuando pase": a verb after all
        after = index + 1
        while agreeing_adjective(sentence.at(after), head.gender, head.number):
            after += 1  # "Personas famosas son..."
        after = sentence.skip(after, _BEFORE_VERB)
        if _subject_verb(sentence.at(after), head):
            fix = _with_article(head, token.text[:1].lower() + token.text[1:])
            yield Finding(token.start, token.end, fix, "article", "es-article-subject")


#: Words after which a clause, and so maybe its bare subject, begins ("porque personas son").
_SUBORDINATORS = frozenset("porque pero que cuando aunque si donde pues".split())
#: What may stand between the subject and its verb ("Personas no lo saben").
_BEFORE_VERB = frozenset(
    "no también siempre nunca ya todavía me te se nos os lo la los las le les".split()
)
#: Nouns used bare as subjects of their own kind ("Mamá dice...", "Dios sabe").
_NO_ARTICLE = frozenset("mamá papá dios casa clase".split())


# --- places -------------------------------------------------------------------------------


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
            and _place_word(sentence, index - 1)
            and token.lower in PLACE_NOUNS
            and head.number == "sg"
        ):
            before = sentence.tokens[index - 1]
            article = _ARTICLES[(head.gender, "sg")]
            if before.lower == "de" and article == "el":
                article, before = "", Token("del", before.start, before.end, ())
            fix = "al" if before.lower == "a" and article == "el" else f"{before.text} {article}"
            fix = fix.rstrip()
            yield Finding(
                before.start, token.end, f"{fix} {token.text}", "article", "es-article-place"
            )


#: Words after "cerca de", "lejos de"...: "cerca de universidad" -> "cerca de la universidad".
_NEAR = frozenset("cerca lejos lado delante detrás enfrente dentro fuera través".split())


def _place_word(sentence: Sentence, index: int) -> bool:
    """A preposition after which a common place takes its article ("a", "en", "para",
    "desde", "hasta", and "de" after cerca, lejos...)."""
    word = sentence.word(index)
    if word in ("a", "en", "para", "desde", "hasta", "hacia"):
        return True
    return word == "de" and sentence.word(index - 1) in _NEAR


# --- articles Spanish leaves out ----------------------------------------------------------

#: Languages: bare after hablar ("hablo español").
_LANGUAGES = frozenset(
    """español inglés francés alemán chino japonés italiano portugués árabe ruso coreano
    latín griego hindi tagalo vietnamita""".split()
)
#: Subjects of study: bare after estudiar ("estudio biología y química").
_SUBJECTS = _LANGUAGES | frozenset(
    """biología química física psicología sociología filosofía economía matemáticas
    ciencias medicina ingeniería arquitectura literatura antropología informática
    enfermería neurociencia bioquímica estadística contabilidad""".split()
)
_INDEFINITE = frozenset({"un", "una"})
_OTHER = frozenset({"otro", "otra", "otros", "otras"})


def _unmodified(sentence: Sentence, index: int) -> bool:
    """Nothing describes the noun at ``index``: no adjective or degree word after it."""
    following = sentence.at(index + 1)
    if following is None or not following.readings:
        return following is None or not following.text[:1].isalpha()
    return not following.can_be("adj") and following.lower not in ("muy", "más", "que", "de")


@check(
    "es-extra-article",
    "Spanish leaves out the article here: {fix}.",
    "En español aquí no va artículo: {fix}.",
)
def extra_article(sentence: Sentence) -> Iterator[Finding]:
    """ "un otro libro" -> "otro libro"; "hablo el español" -> "hablo español"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        after = sentence.tokens[index + 1]
        before = sentence.at(index - 1)
        reason = False
        if word in _INDEFINITE and after.lower in _OTHER:
            reason = True  # "un otro": otro never takes un
        elif (
            word in ("el", "la", "las", "los")
            and before is not None
            and any(r.lemma == "hablar" and r.pos == "vblex" for r in before.readings)
            and after.lower in _LANGUAGES
            and _unmodified(sentence, index + 1)
        ):
            reason = True  # "hablo el español"
        elif (
            word in ("el", "la", "las", "los")
            and before is not None
            and any(r.lemma == "estudiar" and r.pos == "vblex" for r in before.readings)
            and after.lower in _SUBJECTS
            and _unmodified(sentence, index + 1)
        ):
            reason = True  # "estudio la biología": a subject of study is named bare
        if reason:
            fix = after.text if not token.text[:1].isupper() else after.text.capitalize()
            yield Finding(token.start, after.end, fix, "article", "es-extra-article")


#: Countries and continents named without an article ("voy a España", not "a la España").
_COUNTRIES = frozenset(
    """España México Francia Italia Alemania Inglaterra Europa Asia África Portugal Grecia
    Irlanda Holanda Rusia Japón Corea Cuba Chile Colombia Australia Brasil Tailandia
    Vietnam Egipto Marruecos Suiza Suecia Noruega Islandia Escocia Canadá Venezuela
    Guatemala Honduras Nicaragua Panamá Bolivia Ecuador Paraguay Uruguay Israel Turquía
    Dinamarca Finlandia Polonia Austria Bélgica Croacia Hungría Nigeria Kenia""".split()
)


@check(
    "es-article-country",
    "Most country names take no article: {fix}.",
    "La mayoría de los países van sin artículo: {fix}.",
)
def country_article(sentence: Sentence) -> Iterator[Finding]:
    """ "vamos a la España" -> "vamos a España" (but "la España de los años 50" keeps it)."""
    for index, token in enumerate(sentence.tokens[:-1]):
        if token.lower not in ("el", "la"):
            continue
        country = sentence.tokens[index + 1]
        if country.text not in _COUNTRIES:
            continue
        following = sentence.at(index + 2)
        if following is not None and (following.lower in ("de", "del") or following.can_be("adj")):
            continue  # "la España de mis abuelos", "la Italia antigua"
        fix = country.text
        if token.text[:1].isupper():
            fix = fix[:1].upper() + fix[1:]
        yield Finding(token.start, country.end, fix, "article", "es-article-country")
