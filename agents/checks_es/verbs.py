"""Verb choice and verb agreement: ser or estar, subject and verb, gustar.

Three checks on the finite verb of a clause: ser where estar belongs (states,
places, the progressive) and the reverse (identity, profession, origin); a verb
that does not agree with the subject pronoun or noun phrase opening its clause
("yo es" -> "yo soy"); and gustar-like verbs built with the liker as subject
("yo gusta" -> "me gusta"). Each needs the verb's analysis to be unambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator

from agents.checks_es.sentence import (
    Finding,
    Sentence,
    agreeing_adjective,
    agrees,
    check,
    finite_readings,
    inflect,
    only_finite,
    readings_of,
)
from agents.checks_es.words import (
    ALSO_ADVERBS,
    CLITICS,
    DATIVES,
    DEGREE_WORDS,
    LIKE_VERBS,
    PREPOSITIONS,
    PRONOUNS,
    determiner_features,
    noun_head,
)
from agents.lexicon_es import (
    IDENTITY_ADJECTIVES,
    PLACE_NOUNS,
    PROFESSION_NOUNS,
    STATE_ADJECTIVES,
    Reading,
    analyser,
    known_words,
)

# --- ser and estar ------------------------------------------------------------------------

_SWAP = {"ser": ("estar", "vblex"), "estar": ("ser", "vbser")}
_TIME_NOUNS = frozenset("poco rato momento tiempo día mes año semana vez minuto hora".split())
_WHY = {
    "state": ("estar is for states and feelings", "estar expresa estados y sentimientos"),
    "place": ("estar is for where someone or something is", "estar expresa dónde está algo"),
    "gerund": ("the progressive is estar + -ando/-iendo", "el progresivo es estar + gerundio"),
    "identity": (
        "ser is for identity, profession and origin",
        "ser expresa identidad, profesión y origen",
    ),
}


def _swapped(reading: Reading) -> str | None:
    """The same form of the other verb ("soy" -> "estoy")."""
    other, pos = _SWAP[reading.lemma]
    morphology = analyser()
    return morphology.generate(other, (pos, *reading.tags[1:])) if morphology else None


def _personal_subject(sentence: Sentence, index: int, reading: Reading) -> bool:
    """The subject of a form of ser is a person: I, you, we, or a pronoun or name right before."""
    if reading.has("p1") or reading.has("p2"):
        return True
    before = sentence.at(index - 1)
    if before is None:
        return False
    pronoun = PRONOUNS.get(before.lower)
    return (pronoun is not None and pronoun.person == "p3") or any(
        r.has("np", "ant") for r in before.readings
    )


#: Places and buildings: where they are is estar ("mi casa está en...", not an event).
_PLACES = PLACE_NOUNS | frozenset(
    """casa apartamento hotel edificio habitación cuarto dormitorio ciudad pueblo país
    tienda restaurante universidad escuela oficina""".split()
)


def _place_subject(sentence: Sentence, index: int) -> bool:
    """The subject right before the verb at ``index`` is a place ("mi casa", "Madrid")."""
    before = sentence.at(index - 1)
    if before is None:
        return False
    if before.readings and all(r.has("np", "loc") for r in before.readings):
        return sentence.opens_clause(index - 1)
    head = noun_head(before)
    own = determiner_features(sentence.word(index - 2))
    return (
        head is not None
        and own is not None
        and head.reading.lemma in _PLACES
        and sentence.opens_clause(index - 2)
    )


def _estar_reason(sentence: Sentence, index: int, reading: Reading) -> str | None:
    """Why the form of ser at ``index`` should be estar (a key of ``_WHY``), if it should."""
    following = sentence.at(index + 1)
    if following is None:
        return None
    if following.readings and all(r.has("vblex", "ger") for r in following.readings):
        return "gerund" if _personal_subject(sentence, index, reading) else None
    if not reading.has("pri") and not reading.has("pii"):
        return None  # fue cansado por... may be a passive
    at = sentence.skip(index + 1, DEGREE_WORDS)
    if sentence.word(at + 1) != "por" and any(
        r.lemma in STATE_ADJECTIVES for r in readings_of(sentence.at(at))
    ):
        return "state"
    if following.lower == "en" and (
        _personal_subject(sentence, index, reading) or _place_subject(sentence, index)
    ):
        return "place"
    if (
        sentence.word(at) in _WHERE_WORDS
        and sentence.word(at + 1) not in _CLEFT | {"a"}
        and not (sentence.word(at + 1) == "de" and sentence.word(at + 2) in _PERSONS)
    ):
        return "place"  # "el parque es cerca de mi casa"; "es muy cerca a mí" is cercano
    return None


#: Words that say where something is: with them it is estar ("está cerca", "está aquí").
_WHERE_WORDS = frozenset(
    "cerca lejos debajo encima detrás delante dentro fuera enfrente aquí allí allá acá ahí".split()
)
#: After "es aquí" these make a cleft sentence, which keeps ser ("es aquí donde vivo").
_CLEFT = frozenset({"donde", "que", "cuando", "adonde"})
_PERSONS = frozenset("mí ti él ella nosotros nosotras ellos ellas usted ustedes".split())


def _ser_reason(sentence: Sentence, index: int) -> str | None:
    """Why the form of estar at ``index`` should be ser (a key of ``_WHY``), if it should."""
    word = sentence.word(index + 1)
    if word in ("un", "una") and sentence.word(index + 2) not in _TIME_NOUNS:
        noun = sentence.at(index + 2)
        if noun is not None and noun.only("n"):
            return "identity"
    at = sentence.skip(index + 1, DEGREE_WORDS)
    if word in PROFESSION_NOUNS:
        return "identity"
    timeless = any(r.has("pri") or r.has("pii") for r in readings_of(sentence.at(index)))
    if timeless and any(r.lemma in IDENTITY_ADJECTIVES for r in readings_of(sentence.at(at))):
        return "identity"  # but "la película estuvo muy interesante" tells of one time
    if word == "de" and any(r.has("np", "loc") for r in readings_of(sentence.at(index + 2))):
        return "identity"
    return None


#: ser's infinitive, participle and gerund and estar's for the progressive ("he estado
#: haciendo", "puede estar durmiendo").
_NON_FINITE_SER = {"sido": "estado", "ser": "estar", "siendo": "estando"}


def _ser_before_gerund(sentence: Sentence, index: int) -> str | None:
    """ "he sido haciendo" -> "estado": a non-finite ser before a gerund."""
    swapped = _NON_FINITE_SER.get(sentence.word(index))
    following = sentence.at(index + 1)
    if swapped is None or following is None or not following.readings:
        return None
    if not all(r.has("vblex", "ger") for r in following.readings):
        return None
    return swapped


@check(
    "es-ser-estar",
    "Here it is {other}, not {verb} ({why}): {fix}.",
    "Aquí va {other}, no {verb} ({why_es}): {fix}.",
)
def ser_estar(sentence: Sentence) -> Iterator[Finding]:
    """ "soy cansado", "es en la casa", "soy estudiando" -> estar; "estoy estudiante" -> ser."""
    for index, token in enumerate(sentence.tokens):
        gerund = _ser_before_gerund(sentence, index)
        if gerund is not None:
            why, why_es = _WHY["gerund"]
            fields = (("verb", "ser"), ("other", "estar"), ("why", why), ("why_es", why_es))
            yield Finding(token.start, token.end, gerund, "ser_estar", "es-ser-estar", fields)
            continue
        readings = finite_readings(token, _SWAP)
        if not readings or len(readings) != len(token.readings):
            continue
        verb = readings[0]
        if verb.lemma == "ser":
            reason = _estar_reason(sentence, index, verb)
        else:
            reason = _ser_reason(sentence, index)
        fix = _swapped(verb) if reason else None
        if reason is None or fix is None:
            continue
        other = _SWAP[verb.lemma][0]
        why, why_es = _WHY[reason]
        fields = (("verb", verb.lemma), ("other", other), ("why", why), ("why_es", why_es))
        yield Finding(token.start, token.end, fix, "ser_estar", "es-ser-estar", fields)


# --- subject and verb ---------------------------------------------------------------------

#: Words that may stand between a subject and its verb ("yo no lo sé").
_BETWEEN = (
    frozenset("no también siempre nunca ya todavía actualmente normalmente generalmente".split())
    | CLITICS
)
#: Pronouns that are only ever subjects (the others follow prepositions too: "para ella").
_ONLY_SUBJECTS = frozenset({"yo", "tú"})
_NOT_BEFORE_SUBJECT = frozenset({"como", "y", "o", "ni", "sino", "excepto", "menos", "entre"})
#: "todos los libros": "todo" before the determiner of a subject.
_PREDETERMINERS = frozenset({"todos", "todas"})
_COMPARING = frozenset("más menos mayor menor mejor peor mismo misma tan tanto".split())
#: Object clitics: a noun phrase before one is the object, put first ("esa memoria la olvidaré").
_ACCUSATIVES = frozenset({"lo", "la", "los", "las"})
#: Nouns that open a clause as a time or a part, not as the subject ("el día es...").
_PERIODS = frozenset(
    "día semana mes año vez noche mañana tarde fin lunes martes miércoles jueves "
    "viernes sábado domingo verano invierno otoño primavera mayoría resto mitad "
    "grupo".split()
)


def _subject_at(sentence: Sentence, index: int) -> tuple[str, str, int] | None:
    """(person, number, last token) of a subject opening a clause at ``index``."""
    word = sentence.word(index)
    pronoun = PRONOUNS.get(word)
    if pronoun is not None and word in _ONLY_SUBJECTS:
        # "yo", "tú" are subjects wherever they stand, but not in "como yo", "mi hermano y yo"
        before = sentence.word(index - 1)
        if before in _NOT_BEFORE_SUBJECT | PREPOSITIONS:
            return None
        if before == "que" and any(
            sentence.word(back) in _COMPARING for back in range(index - 4, index - 1)
        ):
            return None  # "mayor que tú": a comparison
        return pronoun.person, pronoun.number, index
    if not sentence.opens_clause(index):
        return None
    if pronoun is not None:
        return pronoun.person, pronoun.number, index
    if word in _PREDETERMINERS and determiner_features(sentence.word(index + 1)):
        index += 1  # "todos los libros describen"
        word = sentence.word(index)
    own = determiner_features(word)
    at = index + 1
    if (
        own is not None
        and agreeing_adjective(sentence.at(at), *own)
        and sentence.at(at + 1) is not None
    ):
        at += 1  # "mis mejores amigos"
    head = noun_head(sentence.at(at))
    if own is None or head is None:
        return None
    if head.reading.lemma in _PERIODS or not agrees(head.reading, *own) or word in ALSO_ADVERBS:
        return None
    number = head.number if head.number in ("sg", "pl") else own[1]
    while agreeing_adjective(sentence.at(at + 1), head.gender, number):
        at += 1  # "mis vacaciones perfectas"
    return "p3", number, at


def _adjective_after(sentence: Sentence, verb: int) -> bool:
    """Only an adjective follows the verb ("la gente son amables"): no noun it could agree
    with instead, as in "mi problema son los exámenes"."""
    token = sentence.at(sentence.skip(verb + 1, DEGREE_WORDS))
    return token is not None and token.text.islower() and token.only("adj")


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
        at = sentence.skip(last + 1, _BETWEEN)
        clitic = any(sentence.word(between) in CLITICS for between in range(last + 1, at))
        if sentence.word(index) not in PRONOUNS and any(
            sentence.word(between) in _ACCUSATIVES for between in range(last + 1, at)
        ):
            continue  # "esa memoria nunca la olvidaré": the object comes first
        verb = sentence.at(at)
        if verb is None or not only_finite(verb) or " " in verb.text:
            continue
        if any(r.has(person, number) for r in verb.readings):
            continue
        if clitic and any(r.has("p3") for r in verb.readings):
            continue  # "yo me ha apasionado": the clitic is the one affected
        reading = verb.readings[0]
        if (
            reading.lemma in LIKE_VERBS
            or reading.lemma == "ser"
            and number == "sg"
            and person == "p3"
            and not _adjective_after(sentence, at)
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
        fix = inflect(reading, number=number, person=person)
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


# --- gustar -------------------------------------------------------------------------------


@check(
    "es-gustar",
    "With gustar, the person who likes is the indirect object: {fix}.",
    "Con gustar, quien siente el gusto es el complemento indirecto: {fix}.",
)
def gustar_subject(sentence: Sentence) -> Iterator[Finding]:
    """ "yo gusta" -> "me gusta"; "ella le gusta" -> "a ella le gusta"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        pronoun = PRONOUNS.get(word)
        if pronoun is None or sentence.word(index - 1) in PREPOSITIONS:
            continue
        following = sentence.tokens[index + 1]
        verbs = finite_readings(following, LIKE_VERBS)
        if verbs and following.only("vblex"):
            verb = inflect(verbs[0], person="p3")
            fix = f"{pronoun.dative} {verb or following.text}"
            yield Finding(token.start, following.end, fix, "gustar", "es-gustar")
            continue
        third = sentence.at(index + 2)
        if (
            following.lower in DATIVES
            and third is not None
            and finite_readings(third, LIKE_VERBS)
            and sentence.opens_clause(index)
        ):
            yield Finding(token.start, token.end, f"a {word}", "gustar", "es-gustar")


# --- what is liked and the like verb ------------------------------------------------------

#: Adverbs between the like verb and what is liked ("me gusta mucho el café").
_LIKE_ADVERBS = frozenset(
    "mucho mucha muchos muchas muchísimo más bastante tanto también demasiado".split()
)
#: Determiners that open a noun phrase for sure (not "mucho": "me gusta mucho").
_LIKED_OPENERS = frozenset(
    "el la los las mi mis tu tus su sus este esta estos estas ese esa esos esas "
    "nuestro nuestra nuestros nuestras".split()
)


def _like_verb(sentence: Sentence, index: int) -> tuple[int, Reading] | None:
    """A like verb at ``index`` after its dative ("me gusta", "le ha encantado"):
    (index of the last verb word, the reading that carries person and number)."""
    if sentence.word(index - 1) not in DATIVES:
        return None
    token = sentence.at(index)
    if token is None:
        return None
    verbs = finite_readings(token, LIKE_VERBS)
    if verbs and token.only("vblex"):
        return index, verbs[0]
    auxiliary = [r for r in token.readings if r.pos == "vbhaver" and r.has("p3")]
    participle = sentence.at(index + 1)
    if (
        auxiliary
        and participle is not None
        and any(r.lemma in LIKE_VERBS and r.has("pp") for r in participle.readings)
    ):
        return index + 1, auxiliary[0]
    return None


def _liked(sentence: Sentence, at: int) -> str | None:
    """The number of what is liked, starting at ``at``: "pl", "sg", or None when unsure."""
    word = sentence.word(at)
    token = sentence.at(at)
    if token is not None and token.readings and all(r.has("vblex", "inf") for r in token.readings):
        return "sg"  # an infinitive: "me gusta bailar"
    own = determiner_features(word)
    if word not in _LIKED_OPENERS or own is None:
        return None
    head = noun_head(sentence.at(at + 1))
    if head is None or not agrees(head.reading, *own):
        return None
    after = sentence.skip(at + 2, _LIKE_ADVERBS)
    while sentence.word(after) in ("y", "e", ",", "o") or (
        (following := sentence.at(after)) is not None
        and following.only("adj")
        and any(agrees(r, head.gender, head.number) for r in following.readings)
    ):
        if sentence.word(after) in ("y", "e", ",", "o"):
            return None  # "me gusta el café y el té": a series is left alone
        after += 1
    return head.number if head.number in ("sg", "pl") else None


@check(
    "es-liked-agreement",
    "With {verb}, the verb agrees with what is liked ({liked}): {fix}.",
    "Con {verb}, el verbo concuerda con lo que gusta ({liked}): {fix}.",
)
def liked_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "me gusta los perros" -> "me gustan"; "me encantan el café" -> "me encanta"."""
    for index in range(1, len(sentence)):
        found = _like_verb(sentence, index)
        if found is None:
            continue
        last, reading = found
        at = sentence.skip(last + 1, _LIKE_ADVERBS)
        number = _liked(sentence, at)
        if number is None or reading.has(number) or not reading.has("p3"):
            continue
        if sentence.word(index - 2) == "que" and determiner_features(sentence.word(at)) is None:
            continue  # "las cosas que me encantaban hacer": the antecedent may be meant
        fix = inflect(reading, number=number)
        token = sentence.tokens[index]
        if fix is None or fix.casefold() == token.lower:
            continue
        if last > index:
            fix = f"{fix} {sentence.tokens[last].text}"
        start, end, _ = sentence.span(index, last)
        infinitive = determiner_features(sentence.word(at)) is None
        liked = sentence.span(at, at if infinitive else at + 1)[2]
        lemma = next(
            (r.lemma for r in sentence.tokens[last].readings if r.lemma in LIKE_VERBS), "gustar"
        )
        yield Finding(
            start, end, fix, "gustar", "es-liked-agreement", (("verb", lemma), ("liked", liked))
        )
