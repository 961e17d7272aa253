"""Agreement of what stands before a noun besides its determiner.

Two checks: "todo" before a determiner agrees with the noun ("todo la mañana"
-> "toda la mañana"), and an adjective between the determiner and the noun
agrees with both ("los último libros" -> "últimos"). Each speaks only where the
noun's gender and number are plain from the dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator

from agents.checks_es.agreement import _describe
from agents.checks_es.sentence import (
    Finding,
    Sentence,
    agrees,
    check,
    inflect,
    is_finite,
    is_word,
    nominal,
)
from agents.checks_es.words import (
    ALSO_ADVERBS,
    DETERMINERS,
    determiner_features,
    determiner_form,
    fixed_determiner,
    noun_head,
)
from agents.lexicon_es import Reading, Token

#: Quantifiers: before them "todos" is a pronoun ("nos dio a todos muchas cosas").
_NOT_AFTER_TODO = frozenset(
    form
    for word in (*ALSO_ADVERBS, "otro", "varios", "cada", "ningún", "algún")
    for form in DETERMINERS[word][2]
    if form
)
#: "todo" before a determiner and its noun agrees with them ("toda la mañana").
_TODO = {("m", "sg"): "todo", ("f", "sg"): "toda", ("m", "pl"): "todos", ("f", "pl"): "todas"}


@check(
    "es-todo-agreement",
    '"todo" agrees with the noun after it ({noun} is {what}): {fix}.',
    '"todo" concuerda con el nombre que le sigue ({noun} es {what_es}): {fix}.',
)
def todo_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "todo la mañana" -> "toda la mañana", "todo los días" -> "todos los días"."""
    for index, token in enumerate(sentence.tokens[:-2]):
        if token.lower not in _TODO.values():
            continue
        own = determiner_features(sentence.word(index + 1))
        noun = sentence.at(index + 2)
        head = noun_head(noun)
        if own is None or head is None or noun is None:
            continue
        if sentence.word(index + 1) in _NOT_AFTER_TODO:
            continue  # "a todos muchas cosas"
        if not noun.only("n") and not any(r.pos == "n" and agrees(r, *own) for r in noun.readings):
            continue  # "toda la gigante escuela": an adjective before the noun
        gender = head.gender if head.gender in ("m", "f") else own[0]
        number = head.number if head.number in ("sg", "pl") else own[1]
        fixed = _TODO.get((gender, number))
        if fixed is None or fixed == token.lower:
            continue
        if token.lower.endswith("s") and number == "sg":
            continue  # "nacimos todos mi madre y yo": "todos" is the subject
        category = "gender_agreement" if fixed[3] != token.lower[3] else "number_agreement"
        fields = (("noun", noun.text), *_describe(gender, number))
        yield Finding(token.start, token.end, fixed, category, "es-todo-agreement", fields)


# --- adjective between determiner and noun -------------------------------------------------


def _prenominal(token: Token | None, *, noun_reading: bool = False) -> list[Reading]:
    """The adjective (or ordinal) readings of a word that can only be one before a noun;
    with ``noun_reading``, a word that can also be a noun counts (between a determiner and
    a noun-only word it is the adjective: "mi favorito lección")."""
    if token is None or not is_word(token) or not token.text.islower():
        return []
    if any(is_finite(r) or r.pos == "n" and not noun_reading for r in token.readings):
        return []  # "la primera la vi", "los españoles comida": not surely an adjective
    return [r for r in token.readings if r.pos == "adj" or r.has("det", "ord")]


@check(
    "es-prenominal-agreement",
    "The adjective before the noun agrees with it ({noun} is {what}): {fix}.",
    "El adjetivo delante del nombre concuerda con él ({noun} es {what_es}): {fix}.",
)
def prenominal_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "los último libros" -> "últimos", "la primero vez" -> "primera"."""
    for index, token in enumerate(sentence.tokens[:-2]):
        own = determiner_features(token.lower)
        adjective, noun = sentence.at(index + 1), sentence.at(index + 2)
        readings = _prenominal(adjective)
        head = noun_head(noun)
        if own is None or not readings or head is None or noun is None or adjective is None:
            continue
        if not any(r.pos == "n" and agrees(r, *own) for r in noun.readings):
            continue  # the determiner check speaks first; after "su propia" a verb form
            # reading ("programa") is not meant
        gender = head.gender if head.gender in ("m", "f") else own[0]
        number = head.number if head.number in ("sg", "pl") else own[1]
        if any(agrees(r, gender, number) for r in readings):
            continue
        fix = next(
            (f for r in readings if (f := inflect(r, gender, number)) and f != adjective.lower),
            None,
        )
        if fix is None:
            continue
        wrong_gender = gender in ("m", "f") and not any(agrees(r, gender, None) for r in readings)
        category = "gender_agreement" if wrong_gender else "number_agreement"
        fields = (("noun", noun.text), *_describe(gender, number))
        yield Finding(
            adjective.start, adjective.end, fix, category, "es-prenominal-agreement", fields
        )


# --- determiner, adjective and noun --------------------------------------------------------


@check(
    "es-phrase-agreement",
    "The determiner and the adjective agree with the noun ({noun} is {what}): {fix}.",
    "El determinante y el adjetivo concuerdan con el nombre ({noun} es {what_es}): {fix}.",
)
def phrase_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "un hermosa historia" -> "una hermosa historia", "un famoso persona" -> "una famosa"."""
    for index, token in enumerate(sentence.tokens[:-2]):
        word = token.lower
        own = determiner_features(word)
        adjective, noun = sentence.at(index + 1), sentence.at(index + 2)
        readings = _prenominal(adjective, noun_reading=True)
        head = noun_head(noun)
        if own is None or not readings or head is None or noun is None or adjective is None:
            continue
        plural_after_singular = own[1] == "sg" and head.number == "pl"
        if (
            word in ALSO_ADVERBS
            and not plural_after_singular  # "mucho diferente cosas": no adverb there
            or word in ("la", "las", "los")
            and index > 0
            and not (sentence.opens_clause(index) or sentence.word(index - 1) in _BEFORE_ARTICLE)
        ):
            continue  # "mucho más grande", "la vi": not surely a determiner here
        if not nominal(noun) or sentence.word(index + 3) in ("de", "/"):
            continue  # "el primero de..." , "el/la": the phrase may go on
        if any(agrees(r, *own) for r in noun.readings if r.pos == "n"):
            continue  # the determiner fits: the prenominal check has the adjective
        gender = head.gender if head.gender in ("m", "f") else None
        number = head.number if head.number in ("sg", "pl") else None
        if gender is None and number is None:
            continue
        determiner = fixed_determiner(word, gender or own[0], number or own[1])
        if determiner is None or determiner == word:
            continue
        if any(agrees(r, gender, number) for r in readings):
            fixed_adjective = adjective.text
        else:
            fixed_adjective = next(
                (f for r in readings if (f := inflect(r, gender, number)) and f != adjective.lower),
                "",
            )
            if not fixed_adjective:
                continue
        if token.text[:1].isupper():
            determiner = determiner[:1].upper() + determiner[1:]
        wrong_gender = gender is not None and own[0] in ("m", "f") and own[0] != gender
        category = "gender_agreement" if wrong_gender else "number_agreement"
        start, end, _ = sentence.span(index, index + 2)
        fix = f"{determiner} {fixed_adjective} {noun.text}"
        fields = (("noun", noun.text), *_describe(gender, number))
        yield Finding(start, end, fix, category, "es-phrase-agreement", fields)


#: Words after which "la", "las", "los" are articles, not object pronouns.
_BEFORE_ARTICLE = frozenset(
    "a en de con por para sin sobre desde hasta hacia entre y o que es son era fue hay".split()
)


# --- adjective and noun without a determiner ---------------------------------------------


@check(
    "es-bare-prenominal",
    "The adjective before the noun agrees with it ({noun} is {what}): {fix}.",
    "El adjetivo delante del nombre concuerda con él ({noun} es {what_es}): {fix}.",
)
def bare_prenominal(sentence: Sentence) -> Iterator[Finding]:
    """ "tiene bonitas colores" -> "bonitos colores", "buena sitio" -> "buen sitio"."""
    for index, adjective in enumerate(sentence.tokens[:-1]):
        if (
            determiner_features(sentence.word(index - 1)) is not None
            or determiner_features(adjective.lower) is not None
        ):
            continue  # the phrase checks have it
        capital = adjective.text[:1].isupper() and sentence.starts_clause(index)
        readings = _prenominal(adjective) or (_prenominal(_lowered(adjective)) if capital else [])
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if not readings or head is None or noun is None or not nominal(noun):
            continue
        if any(r.has("det") or r.lemma in _NOT_BEFORE_NOUN for r in readings) or any(
            r.pos.startswith("vb") for r in adjective.readings
        ):
            continue  # "escalar rocas": a verb and its object
        before = noun_head(sentence.at(index - 1))
        if before is not None and any(agrees(r, before.gender, before.number) for r in readings):
            continue  # "el pelo negro largo": it goes with the noun before
        if sentence.word(index + 2) in ("de", "/", "-"):
            continue
        gender = head.gender if head.gender in ("m", "f") else None
        number = head.number if head.number in ("sg", "pl") else None
        if any(agrees(r, gender, number) for r in readings):
            continue
        fix = next(
            (f for r in readings if (f := inflect(r, gender, number)) and f != adjective.lower),
            None,
        )
        if fix is None:
            continue
        wrong_gender = gender is not None and not any(agrees(r, gender, None) for r in readings)
        category = "gender_agreement" if wrong_gender else "number_agreement"
        fields = (("noun", noun.text), *_describe(gender, number))
        yield Finding(adjective.start, adjective.end, fix, category, "es-bare-prenominal", fields)


#: Adjectives that also stand alone before a noun phrase ("medio kilo", "gracias").
_NOT_BEFORE_NOUN = frozenset("medio tal mismo cierto propio junto solo tanto cada".split())


def _lowered(token: Token) -> Token:
    """A sentence-initial capitalised word as its lower-case self (readings kept)."""
    return Token(token.text.lower(), token.start, token.end, token.readings)


# --- pronouns of a part: "uno de los", "todas de las" -----------------------------------

_PART_WORDS = {
    "uno": ("uno", "una"),
    "una": ("uno", "una"),
    "alguno": ("alguno", "alguna"),
    "alguna": ("alguno", "alguna"),
    "ninguno": ("ninguno", "ninguna"),
    "ninguna": ("ninguno", "ninguna"),
    "todos": ("todos", "todas"),
    "todas": ("todos", "todas"),
    "muchos": ("muchos", "muchas"),
    "muchas": ("muchos", "muchas"),
    "algunos": ("algunos", "algunas"),
    "algunas": ("algunos", "algunas"),
}


@check(
    "es-part-agreement",
    "It agrees with the group it is part of ({group}): {fix}.",
    "Concuerda con el grupo del que forma parte ({group}): {fix}.",
)
def part_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "uno de las mejores" -> "una de las mejores"; "todos de las tiendas" -> "todas"."""
    for index, token in enumerate(sentence.tokens[:-3]):
        forms = _PART_WORDS.get(token.lower)
        if forms is None or sentence.word(index + 1) != "de":
            continue
        own = determiner_features(sentence.word(index + 2))
        if own is None or own[1] != "pl" or own[0] not in ("m", "f"):
            continue
        noun_at = index + 3
        if _prenominal(sentence.at(noun_at)):
            noun_at += 1  # "una de las mejores jugadoras"
        head = noun_head(sentence.at(noun_at))
        if head is None or head.gender not in (own[0], "mf") or head.number != "pl":
            continue  # the group's gender must be plain from its words
        if sentence.word(index - 1) in ("el", "la", "los", "las"):
            continue  # "el uno con el otro"
        fixed = forms[0] if own[0] == "m" else forms[1]
        if fixed == token.lower:
            continue
        group = sentence.span(index + 2, noun_at)[2]
        fields = (("group", group),)
        yield Finding(
            token.start, token.end, fixed, "gender_agreement", "es-part-agreement", fields
        )


@check(
    "es-uno-before-noun",
    'Before a noun "uno" is "un" (and "una" for a feminine noun): {fix}.',
    'Delante de un nombre, "uno" es "un" (y "una" con un nombre femenino): {fix}.',
)
def uno_before_noun(sentence: Sentence) -> Iterator[Finding]:
    """ "uno hermana" -> "una hermana"; "uno libro" -> "un libro"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        if token.lower != "uno":
            continue
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if noun is None or head is None or not nominal(noun) or head.gender not in ("m", "f"):
            continue
        article = determiner_form("un", head.gender, head.number)
        if article is None:
            continue
        start, end, _ = sentence.span(index, index + 1)
        yield Finding(
            start, end, f"{article} {noun.text}", "gender_agreement", "es-uno-before-noun"
        )


@check(
    "es-todos-bare",
    '"todos" before a plural noun agrees with it and takes the article: {fix}.',
    '"todos" ante un nombre en plural concuerda con él y lleva artículo: {fix}.',
)
def todos_bare(sentence: Sentence) -> Iterator[Finding]:
    """ "todos personas" -> "todas las personas"; "todas días" -> "todos los días"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        if token.lower not in ("todos", "todas", "todo", "toda"):
            continue
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if noun is None or head is None or not nominal(noun) or head.number != "pl":
            continue
        if sentence.word(index + 2) == "de" and token.lower == "todo":
            continue  # "todo tipos de": "todo tipo de" is meant, left to the learner
        feminine = token.lower.startswith("toda")
        gender = head.gender if head.gender in ("m", "f") else "f" if feminine else "m"
        todos = _TODO[(gender, "pl")]
        article = determiner_form("el", gender, "pl")
        if token.text[:1].isupper():
            todos = todos.capitalize()
        start, end, _ = sentence.span(index, index + 1)
        category = "gender_agreement" if todos.casefold() != token.lower else "article"
        yield Finding(start, end, f"{todos} {article} {noun.text}", category, "es-todos-bare")


# --- "lo" and "cualquiera" before a noun -------------------------------------------------

#: Adjectives that follow a neuter "lo" on their own ("lo mismo", "lo único") but, with a
#: noun after them, take the noun's article ("el mismo sentido", "la única razón").
_AFTER_LO = frozenset("mismo misma único única mejor peor primero primera último última".split())


@check(
    "es-article-before-noun",
    "Before a noun the article is {article}, not {wrong_word}: {fix}.",
    "Delante de un nombre el artículo es {article}, no {wrong_word}: {fix}.",
)
def neuter_before_noun(sentence: Sentence) -> Iterator[Finding]:
    """ "lo único razón" -> "la única razón"; "cualquiera vacación" -> "cualquier vacación"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        if word == "cualquiera":
            noun = sentence.at(index + 1)
            if noun is not None and nominal(noun) and noun.text.islower():
                fields = (("article", "cualquier"), ("wrong_word", token.text))
                fix = "Cualquier" if token.text[:1].isupper() else "cualquier"
                yield Finding(
                    token.start, token.end, fix, "article", "es-article-before-noun", fields
                )
            continue
        if word != "lo" or sentence.word(index + 1) not in _AFTER_LO:
            continue
        adjective, noun = sentence.tokens[index + 1], sentence.at(index + 2)
        head = noun_head(noun)
        if noun is None or head is None or not nominal(noun) or head.gender not in ("m", "f"):
            continue
        readings = [r for r in adjective.readings if r.pos == "adj" or r.has("det", "ord")]
        form = adjective.lower
        if readings and not any(agrees(r, head.gender, head.number) for r in readings):
            form = next((f for r in readings if (f := inflect(r, head.gender, head.number))), form)
        article = determiner_form("el", head.gender, head.number) or "el"
        start, end, _ = sentence.span(index, index + 2)
        fields = (("article", article), ("wrong_word", token.text))
        yield Finding(
            start, end, f"{article} {form} {noun.text}", "article", "es-article-before-noun", fields
        )
