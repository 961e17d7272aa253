"""Agreement of what stands before a noun besides its determiner.

Two checks: "todo" before a determiner agrees with the noun ("todo la mañana"
-> "toda la mañana"), and an adjective between the determiner and the noun
agrees with both ("los último libros" -> "últimos"). Each speaks only where the
noun's gender and number are plain from the dictionary.
"""

from __future__ import annotations

from collections.abc import Iterator

from agents.checks_es.agreement import _describe
from agents.checks_es.sentence import Finding, Sentence, agrees, check, inflect, is_finite, is_word
from agents.checks_es.words import ALSO_ADVERBS, DETERMINERS, determiner_features, noun_head
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


def _prenominal(token: Token | None) -> list[Reading]:
    """The adjective (or ordinal) readings of a word that can only be one before a noun."""
    if token is None or not is_word(token) or not token.text.islower():
        return []
    if any(is_finite(r) or r.pos == "n" for r in token.readings):
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
        if not noun.only("n", "adj") or not any(
            r.pos == "n" and agrees(r, *own) for r in noun.readings
        ):
            continue  # the determiner check speaks first
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
