"""Gender and number agreement inside the noun phrase and across ser/estar.

Three checks: the determiner agrees with its noun ("un casa" -> "una casa"),
an adjective after a noun agrees with it ("la casa blanco" -> "blanca"), and a
predicate adjective agrees with the subject ("la comida es bueno" -> "buena").
The noun's gender and number come from the dictionary, so each check stays
silent where the words could be read another way (a pronoun, an adverb, a verb,
coordinated nouns) and the agreement is not certain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agents.checks_es.sentence import (
    CLAUSE_OPENERS,
    Finding,
    Sentence,
    agrees,
    check,
    finite_readings,
    gender_of,
    inflect,
    is_finite,
    is_word,
    nominal,
    note,
    number_of,
    plausible_finite,
)
from agents.checks_es.words import (
    ALSO_ADVERBS,
    CONTRACTED,
    DEGREE_WORDS,
    PREPOSITIONS,
    PRONOUNS,
    SUBJECT_PRONOUNS,
    Head,
    determiner_features,
    determiner_form,
    fixed_determiner,
    noun_head,
)
from agents.lexicon_es import Reading, Token

_AND = frozenset({"y", "e", "o", "u", "ni"})
_FEATURE_WORDS = {
    "m": ("masculine", "masculino"),
    "f": ("feminine", "femenino"),
    "sg": ("singular", "singular"),
    "pl": ("plural", "plural"),
}


def _describe(gender: str | None, number: str | None) -> tuple[tuple[str, str], ...]:
    """The note fields naming the features: ("what", "feminine plural"), ("what_es", ...)."""
    words = [_FEATURE_WORDS[feature] for feature in (gender, number) if feature in _FEATURE_WORDS]
    return (("what", " ".join(w[0] for w in words)), ("what_es", " ".join(w[1] for w in words)))


# --- determiner and noun ------------------------------------------------------------------

#: Determiners that are also object pronouns ("la veo"): the next word must be only a noun.
_ALSO_PRONOUNS = frozenset({"la", "las", "los"})
#: Determiners that are never pronouns: before them a verb-or-noun word is a noun.
_NEVER_PRONOUNS = frozenset(
    {"el", "un", "al", "del", "mi", "mis", "tu", "tus", "su", "sus", "cada"}
)
#: Verbs after which "mucho" and its kin are determiners, not adverbs ("tengo mucha hambre").
_QUANTIFIED = frozenset(
    """tener haber hay hacer necesitar querer ver prestar comer beber aprender tomar sacar
    comprar gastar ganar recibir dar leer escribir conocer visitar""".split()
)


def _surely_determiner(sentence: Sentence, index: int) -> bool:
    """After a preposition or an infinitive, "la", "ese", "varios" are determiners: no
    pronoun-and-verb can follow there ("para la proyecto", "debajo ese marca")."""
    before = sentence.at(index - 1)
    if before is None or sentence.word(index) in ALSO_ADVERBS:
        return False
    if before.lower in PREPOSITIONS | {"debajo", "encima", "detrás", "delante", "dentro"}:
        return True
    return bool(before.readings) and all(r.has("vblex", "inf") for r in before.readings)


def _quantifying_verb(token: Token | None) -> bool:
    """A verb after which "mucho" counts its object ("necesito mucho ayuda")."""
    return (
        token is not None
        and bool(token.readings)
        and all(r.pos.startswith("vb") and r.lemma in _QUANTIFIED for r in token.readings)
    )


def _adverb_place(sentence: Sentence, index: int) -> bool:
    """After a verb, "mucho" may be an adverb ("estudio mucho historia" is not "mucha");
    never before a plural noun ("veo mucho películas")."""
    following = noun_head(sentence.at(index + 1))
    if following is not None and following.number == "pl":
        return False
    before = sentence.at(index - 1)
    verbs = [] if before is None else [r for r in before.readings if r.pos.startswith("vb")]
    return bool(verbs) and not all(r.lemma in _QUANTIFIED for r in verbs)


@check(
    "es-determiner-noun",
    "The determiner agrees with the noun ({noun} is {what}): {fix}.",
    "El determinante concuerda con el nombre ({noun} es {what_es}): {fix}.",
)
def determiner_noun(sentence: Sentence) -> Iterator[Finding]:
    """ "un casa", "los ciudades", "mis tiempo", "el clase": the determiner follows the noun."""
    for index, token in enumerate(sentence.tokens[:-1]):
        word = token.lower
        own = determiner_features(word)
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if own is None or head is None or noun is None:
            continue
        surely = _surely_determiner(sentence, index)
        if (
            word in _ALSO_PRONOUNS
            and not surely
            and not all(
                r.pos in ("n", "adj") or r.pos == "vblex" and not plausible_finite(r)
                for r in noun.readings
            )
        ):
            continue
        quantified = word in ALSO_ADVERBS and _quantifying_verb(sentence.at(index - 1))
        if (
            word not in _NEVER_PRONOUNS
            and not quantified
            and not surely
            and any(
                plausible_finite(r) and (word in _ALSO_PRONOUNS or r.has("p3"))
                for r in noun.readings
            )
        ):
            continue  # "estas son", "otro era", "la veo": a pronoun and a verb
        if sentence.text[noun.end : noun.end + 1] in "/(" or sentence.word(index - 1) == "/":
            continue  # el/la entrenador/a
        if (
            word in ALSO_ADVERBS
            and not quantified
            and (not noun.only("n") or _adverb_place(sentence, index))
        ):
            continue
        if any(r.pos in ("n", "adj") and agrees(r, own[0], own[1]) for r in noun.readings):
            continue
        gender = head.gender if head.gender in ("m", "f") else own[0]
        number = head.number if head.number in ("sg", "pl") else own[1]
        fixed = fixed_determiner(word, gender, number)
        if fixed is not None and fixed != word:
            fix = f"{fixed} {noun.text}"
        else:  # cada días: the noun changes
            form = inflect(head.reading, number=own[1]) if own[1] in ("sg", "pl") else None
            if form is None or form == noun.lower:
                continue
            fix = f"{token.text} {form}"
        start, end, _ = sentence.span(index, index + 1)
        wrong_gender = own[0] in ("m", "f") and head.gender in ("m", "f") and own[0] != head.gender
        category = "gender_agreement" if wrong_gender else "number_agreement"
        if word in CONTRACTED and wrong_gender:
            category = "article_contraction"
        described = _describe(head.gender, "pl" if head.number == "pl" else "sg")
        fields = (("noun", noun.text), *described)
        yield Finding(start, end, fix, category, "es-determiner-noun", fields)


# --- adjective and noun -------------------------------------------------------------------

#: Adjectives that often modify the verb or the subject rather than the noun before them
#: ("pasamos tiempo juntos", "corrió a casa rápido"); language names ("clases de español").
_NOT_ATTRIBUTIVE = frozenset(
    """junto solo pronto justo rápido lento temprano tarde derecho primero último puesto claro
    alto bajo directo medio mismo tal cierto seguido fuerte mal mínimo máximo
    muchísimo mucho poco igual posible extra gigante travieso""".split()
)
#: Language names: after a noun that is a language or a class they are nouns ("el idioma
#: español" agrees, but "mi clase español" means "de español").
_LANGUAGES = frozenset(
    "español inglés francés alemán chino japonés italiano portugués árabe ruso coreano".split()
)
_TAUGHT = frozenset("clase curso idioma lengua profesor profesora maestro maestra examen".split())
_NOT_PREDICATIVE = frozenset("justo peor mejor igual mal así solo".split())


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
    if any(
        r.pos in ("adj", "n", "vblex") and not is_finite(r) and agrees(r, gender, number)
        for r in token.readings
    ):
        return None
    for reading in token.readings:
        if reading.pos == "adj" or reading.has("vblex", "pp"):
            form = inflect(reading, gender, number)
            if form is not None and form.casefold() != token.lower:
                return form
    return None


def _category(adjective: Token, gender: str | None) -> str:
    """Gender agreement when no form of the adjective has the gender, else number agreement."""
    wrong_gender = gender is not None and not any(
        agrees(r, gender, None) for r in adjective.readings if r.pos in ("adj", "vblex", "n")
    )
    return "gender_agreement" if wrong_gender else "number_agreement"


def phrase_features(sentence: Sentence, index: int, head: Head) -> tuple[str | None, str | None]:
    """Gender and number of the noun phrase headed at ``index``; a determiner settles "mf"."""
    gender: str | None = head.gender if head.gender in ("m", "f") else None
    number: str | None = head.number if head.number in ("sg", "pl") else None
    own = determiner_features(sentence.word(index - 1))
    if own is not None:
        gender = gender or (own[0] if own[0] in ("m", "f") else None)
        number = number or own[1]
    return gender, number


def _after_de(sentence: Sentence, index: int) -> tuple[bool, Head | None]:
    """In "N1 de (det) N2" with ``index`` at N2: (True, N1's analysis or None if unknown)."""
    back = index - 1
    if determiner_features(sentence.word(back)) is not None:
        back -= 1
    if sentence.word(back) not in ("de", "del"):
        return False, None
    for offset in (1, 2):
        token = sentence.at(back - offset)
        head = noun_head(token)
        if head is not None and nominal(token):
            return True, head
        if offset == 1 and token is not None and any(is_finite(r) for r in token.readings):
            return False, None  # "son de países diferentes": a verb, not "N1 de N2"
    return True, None


def _attributive(sentence: Sentence, index: int, *, predicate: bool = False) -> bool:
    """The word at ``index`` can be an adjective of the noun before it (or the subject)."""
    token = sentence.at(index)
    if token is None or not adjective_like(token):
        return False
    following = sentence.at(index + 1)
    if token.text[:1].isupper() and (
        index == 0
        or any(r.pos == "np" for r in token.readings)
        or not token.text[1:].islower()
        or following is not None
        and following.text[:1].isupper()
    ):
        return False  # a name; but "la lengua Español" is an adjective written English-style
    excluded = _NOT_PREDICATIVE if predicate else _NOT_ATTRIBUTIVE
    if any(r.lemma in excluded for r in token.readings):
        return False
    if not predicate and any(r.lemma in _LANGUAGES for r in token.readings):
        before = noun_head(sentence.at(index - 1))
        if before is None or before.reading.lemma in _TAUGHT:
            return False  # "mi clase español": the language itself
    if not any(r.pos == "adj" for r in token.readings):  # a bare participle: "llamada X"
        if token.can_be("n"):
            return False  # "mi favorito comida": a noun after all
        return (
            following is None
            or not is_word(following)
            or following.lower in _AND | _AFTER_PARTICIPLE
            or following.text[:1].isupper()
        )
    return True


#: Words after which a participle still describes the noun before it ("una banda llamada
#: X", "una comida conocida en Londres", "una historia basada en...").
_AFTER_PARTICIPLE = frozenset("en por de con a para como".split())


def _series(sentence: Sentence, index: int) -> bool:
    """Two adjectives joined by "y" start at ``index`` ("rojo y azul")."""
    return sentence.word(index + 1) in _AND and adjective_like(sentence.at(index + 2))


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
        own = determiner_features(sentence.word(index - 1))
        if not token.only("n") and (own is None or not agrees(head.reading, *own)):
            continue  # "casa" may be a verb unless a determiner says otherwise
        gender, number = phrase_features(sentence, index, head)
        if own is not None and not agrees(head.reading, *own):
            # "un persona generoso": the determiner is wrong too, and the noun's gender
            # decides; its number may be the mistake ("los examen parciales")
            if head.gender not in ("m", "f") or own[0] == head.gender:
                continue
            gender, number = head.gender, head.number if own[1] == head.number else None
        before = sentence.word(index - 2 if own else index - 1)
        after_de, earlier = _after_de(sentence, index)
        if after_de and earlier is None:
            continue
        at = index + 1
        series = sentence.word(at) not in DEGREE_WORDS and _series(sentence, at)
        while True:
            at = sentence.skip(at, DEGREE_WORDS)
            adjective = sentence.at(at)
            if adjective is None or not _attributive(sentence, at):
                break
            fix = _adjective_fix(adjective, gender, number)
            plural = any(number_of(r) == "pl" for r in adjective.readings)
            depictive = plural and number == "sg" and before in PREPOSITIONS | {","}
            if before in _AND and plural or depictive:
                fix = None  # coordinated nouns, or a depictive ("llegamos a casa cansados")
            if before in _AND and not plural and own is None:
                # "perros y gatos negro": plural whichever noun it goes with ("negros"),
                # but of which gender?
                fix = _adjective_fix(adjective, None, "pl") if number == "pl" else None
            if series and number == "pl":
                fix = fix and _adjective_fix(adjective, gender, None)  # los colores rojo y azul
            if earlier is not None and any(
                agrees(r, earlier.gender, earlier.number) for r in adjective.readings
            ):
                fix = None
            if fix is not None:
                fields = (("noun", token.text), *_describe(gender, number))
                category = _category(adjective, gender)
                yield Finding(
                    adjective.start, adjective.end, fix, category, "es-adjective-agreement", fields
                )
            if not _series(sentence, at):
                break
            at += 2


# --- subject and predicate adjective ------------------------------------------------------

_COPULAS = frozenset({"ser", "estar", "parecer", "quedar"})
#: What may stand between the subject and the copula ("ella no es alta").
_BEFORE_COPULA = frozenset("no también tampoco siempre nunca ya todavía aún".split())
#: What may stand between the copula and its adjective ("no es muy alto").
_BEFORE_PREDICATE = DEGREE_WORDS | {"no"}


@dataclass(frozen=True, slots=True)
class _Subject:
    """The subject of a copula: its first token, gender, number and person, and the
    features of a noun inside it ("de mis amigos") that an adjective may also go with."""

    first: int
    gender: str | None
    number: str | None
    person: str
    inner: tuple[str | None, str | None] | None = None


#: Verbs after which "N que" may be "N" and a "that" clause ("dice la profesora que es...").
_SAYING = frozenset("decir pensar creer saber explicar contar escribir responder".split())


def _antecedent(sentence: Sentence, que: int) -> _Subject | None:
    """ "una persona que es...": the noun phrase "que" stands for, as :func:`_subject` does."""
    noun = sentence.at(que - 1)
    head = noun_head(noun)
    own = determiner_features(sentence.word(que - 2))
    if head is None or own is None or noun is None or not agrees(head.reading, *own):
        return None
    before = sentence.at(que - 3)
    if before is not None and (before.lower == "a" or finite_readings(before, _SAYING)):
        return None  # "dice la profesora que...", "decirle a un niño que..."
    if _after_de(sentence, que - 1)[0]:
        return None  # "la madre de mi amigo que...": which one is meant?
    gender, number = phrase_features(sentence, que - 1, head)
    return _Subject(que - 2, gender, number, "p3")


def _subject(sentence: Sentence, verb: int) -> _Subject | None:
    """The subject right before the verb at ``verb``: (first token, gender, number, person)."""
    word = sentence.word(verb - 1)
    gender: str | None
    number: str | None
    inner: tuple[str | None, str | None] | None = None
    name = sentence.at(verb - 1)
    names = [r for r in name.readings if r.has("np", "ant")] if name is not None else []
    if word in SUBJECT_PRONOUNS:
        first = verb - 1
        pronoun = PRONOUNS[word]
        gender, number, person = pronoun.gender, pronoun.number, pronoun.person
        if sentence.word(first - 1) in ("y", "que"):
            return _Subject(first, gender, number, person)
    elif word == "que":
        return _antecedent(sentence, verb - 1)
    elif len(names) == 1 and gender_of(names[0]) in ("m", "f") and name is not None:
        first, gender, number, person = verb - 1, gender_of(names[0]), "sg", "p3"
        if name.can_be("n") or name.can_be("adj") or sentence.word(first - 1) == "a":
            return None
    else:
        found = _phrase_before(sentence, verb)
        if found is None:
            return None
        first, gender, number, inner = found
        person = "p3"
        if sentence.word(first - 1) in ("que", "y") and number == "sg":
            # "creo que la clase es", "la ciudad y la naturaleza es": a singular verb
            # leaves the phrase alone as its subject
            return _Subject(first, gender, number, person, inner)
    if not sentence.opens_clause(first):
        return None
    return _Subject(first, gender, number, person, inner)


def _phrase_before(
    sentence: Sentence, end: int
) -> tuple[int, str | None, str | None, tuple[str | None, str | None] | None] | None:
    """The noun phrase ending right before ``end``: (first token, gender, number, and the
    gender and number of a noun in its "de" phrase, if it has one).

    It may carry adjectives ("la comida mexicana es") and one "de" phrase ("la
    casa de mis padres es", "el clima de Oregón es"): its first noun is the head,
    and an adjective that fits the inner noun is left alone (which one is meant?).
    """
    last = end - 1
    if sentence.word(last - 1) in ("de", "del") and (name := sentence.at(last)) is not None:
        if name.text[:1].isupper() and not name.can_be("n"):
            outer = _phrase_before(sentence, last - 1)  # "el clima de Oregón"
            return None if outer is None or outer[3] is not None else (*outer[:3], None)
    while (token := sentence.at(last)) is not None and token.text.islower() and token.only("adj"):
        last -= 1  # adjectives after the noun
    head = noun_head(sentence.at(last))
    first = last - 1
    if head is not None and determiner_features(sentence.word(first)) is None:
        first -= 1  # "la mejor comida": an adjective between determiner and noun
    own = determiner_features(sentence.word(first))
    if head is None or own is None or not agrees(head.reading, *own):
        return None
    gender, number = phrase_features(sentence, last, head)
    if sentence.word(first - 1) in ("de", "del"):
        outer = _phrase_before(sentence, first - 1)
        if outer is None or outer[3] is not None:
            return None  # one "de" phrase at most
        return (*outer[:3], (gender, number))
    return first, gender, number, None


#: Verbs that take an infinitive copula ("va a ser", "puede estar", "solía estar").
_AUXILIARIES = frozenset("poder deber querer soler parecer necesitar".split())


def _copula_group(sentence: Sentence, index: int) -> tuple[list[Reading], int] | None:
    """A copula at ``index`` and the finite verb that carries its person and number:
    (that verb's copula-like readings, the index its subject ends before). "es" stands
    alone; in "va a ser", "puede estar" the auxiliary carries them."""
    token = sentence.tokens[index]
    copulas = finite_readings(token, _COPULAS)
    if copulas:
        if any(r not in copulas and r.pos != "n" for r in token.readings):
            return None  # "son" may be a noun, but not after a subject
        return copulas, index
    if token.lower not in ("ser", "estar"):
        return None
    auxiliary = index - 1
    lemmas = _AUXILIARIES
    if sentence.word(auxiliary) == "a":
        auxiliary, lemmas = auxiliary - 1, frozenset({"ir"})
    verb = sentence.at(auxiliary)
    readings = finite_readings(verb, lemmas) if verb is not None else []
    if not readings or verb is None or len(readings) != len(verb.readings):
        return None
    return readings, auxiliary


def _plural_copula(sentence: Sentence, copulas: list[Reading], verb: int) -> _Subject | None:
    """ "somos joven", "son muy inteligente": a plural copula needs a plural adjective,
    whoever the subject is (its gender stays unknown). Not after a singular word: in
    "la gente son feliz" the verb is the mistake."""
    persons = {person for r in copulas if r.has("pl") for person in ("p1", "p3") if r.has(person)}
    if len(persons) != 1 or any(not r.has("pl") for r in copulas):
        return None
    before = sentence.at(verb - 1)
    if not (
        before is None
        or not is_word(before)
        or before.lower in CLAUSE_OPENERS | {"que", "y"}
        or any(number_of(r) == "pl" or r.pos == "num" for r in before.readings)
    ):
        return None
    return _Subject(verb, None, "pl", persons.pop())


#: Subjects whose predicate names one of their kind: a colour, a language, a subject.
_KINDS = frozenset(
    """color colores idioma idiomas lengua lenguas clase clases especialidad especialización
    materia materias curso cursos carrera asignatura""".split()
)


def _names_a_kind(sentence: Sentence, first: int, end: int) -> bool:
    """The subject from ``first`` to before ``end`` is a colour, a language or a subject."""
    return any(sentence.word(index) in _KINDS for index in range(first, end))


#: Adjectives that also name a colour or a language ("mis colores son rojo y azul",
#: "mis clases son español y arte"): after a copula they may be nouns.
_ALSO_NAMES = frozenset(
    """rojo azul verde amarillo naranja rosa morado negro blanco gris marrón café violeta
    español inglés francés alemán chino japonés italiano portugués árabe ruso coreano
    turco griego latín""".split()
)


#: What may follow a predicate adjective that could also be read as a verb ("es bajo y...").
_AFTER_PREDICATE = _AND | {"pero", "porque", "cuando", "que", "para", "con"}


def _predicative(sentence: Sentence, at: int) -> bool:
    """After the copula, an adjective that is also a verb form ("es bajo", "está limpio")."""
    token, following = sentence.at(at), sentence.at(at + 1)
    return (
        token is not None
        and is_word(token)
        and token.text.islower()
        and token.can_be("adj")
        and not token.can_be("det")
        and not any(r.lemma in _NOT_PREDICATIVE for r in token.readings)
        and (following is None or not is_word(following) or following.lower in _AFTER_PREDICATE)
    )


note(
    "es-plural-predicate",
    'After the plural verb "{verb}" the adjective is plural too: {fix}.',
    "Tras el verbo en plural «{verb}», el adjetivo también va en plural: {fix}.",
)


@check(
    "es-predicate-agreement",
    "The adjective agrees with the subject {subject} ({what}): {fix}.",
    "El adjetivo concuerda con el sujeto {subject} ({what_es}): {fix}.",
)
def predicate_agreement(sentence: Sentence) -> Iterator[Finding]:
    """ "la comida es bueno", "ella está cansado", "mis ojos son azul": ser/estar + adjective."""
    for index, token in enumerate(sentence.tokens):
        group = _copula_group(sentence, index)
        if group is None:
            continue
        copulas, back = group
        while sentence.word(back - 1) in _BEFORE_COPULA:
            back -= 1  # "ella no es", "la casa siempre está": adverbs between
        subject = _subject(sentence, back) or _plural_copula(sentence, copulas, back)
        if subject is None:
            continue
        first, gender, number = subject.first, subject.gender, subject.number
        person = subject.person
        if not any(r.has(person, number or "sg") for r in copulas):
            continue  # "la gente son": the verb is the mistake
        at = sentence.skip(index + 1, _BEFORE_PREDICATE)
        if sentence.word(at) == "un" and sentence.word(at + 1) == "poco":
            at += 2
        if first < back:
            rule = "es-predicate-agreement"
            fields = (("subject", sentence.span(first, back - 1)[2]), *_describe(gender, number))
        else:  # only the plural verb tells the subject
            rule = "es-plural-predicate"
            fields = (("verb", token.text),)
        while True:  # "es baja y gordo": each adjective of a series agrees
            adjective = sentence.at(at)
            if adjective is None:
                break
            if any(r.lemma in _ALSO_NAMES for r in adjective.readings) and (
                first == back or _names_a_kind(sentence, first, back)
            ):
                break  # "mi color favorito es rojo", "mi especialidad es inglés": names
            if _attributive(sentence, at, predicate=True) or _predicative(sentence, at):
                fix = _adjective_fix(adjective, gender, number)
            elif any(r.pos == "adj" and agrees(r, gender, number) for r in adjective.readings):
                fix = None  # "es baja y gordo": "baja" may be a verb, but agrees as an adjective
            else:
                break
            if subject.inner is not None and any(
                agrees(r, *subject.inner) for r in adjective.readings if r.pos == "adj"
            ):
                fix = None  # "la madre de mis amigos es simpáticos": which one is meant?
            if fix is not None:
                category = _category(adjective, gender)
                yield Finding(adjective.start, adjective.end, fix, category, rule, fields)
            following = at + 1
            if sentence.word(following) == ",":
                following += 1
            if sentence.word(following) in _AND:
                following += 1
            if following == at + 1:
                break  # "es alta, delgada y simpática": a series goes on after "," or "y"
            at = sentence.skip(following, DEGREE_WORDS)


# --- counted nouns ------------------------------------------------------------------------

#: Quantifiers that count more than one: the noun after them is plural.
_MANY = frozenset(
    "varios varias muchos muchas pocos pocas algunos algunas unos unas ambos ambas".split()
)


def _counts_many(token: Token) -> bool:
    """A cardinal above one ("dos", "diez", "25") or a plural quantifier."""
    if token.lower in _MANY:
        return True
    if not token.text.islower() and not token.text.isdigit():
        return False  # "I don't", "X factor"
    if token.text.isdigit():
        return int(token.text) > 1 and not 1000 <= int(token.text) <= 2100  # a year stays
    return bool(token.readings) and all(r.has("num") and r.lemma != "uno" for r in token.readings)


@check(
    "es-counted-noun",
    "After {count} the noun is plural: {fix}.",
    "Después de {count} el nombre va en plural: {fix}.",
)
def counted_noun(sentence: Sentence) -> Iterator[Finding]:
    """ "dos coche" -> "dos coches", "diez milla" -> "diez millas"."""
    for index, token in enumerate(sentence.tokens[:-1]):
        if not _counts_many(token) or sentence.word(index - 1) in ("de", "las", "los", "el"):
            continue  # "a las dos", "el 2 de mayo", "uno de los dos"
        noun = sentence.at(index + 1)
        head = noun_head(noun)
        if noun is None or head is None or head.number != "sg" or not noun.only("n"):
            continue
        if head.reading.lemma in _NOT_COUNTED:
            continue
        form = inflect(head.reading, number="pl")
        if form is None or form.casefold() == noun.lower:
            continue
        start, end, _ = sentence.span(index, index + 1)
        fields = (("count", token.text),)
        yield Finding(
            start, end, f"{token.text} {form}", "number_agreement", "es-counted-noun", fields
        )


#: Nouns that follow a number without counting ("dos por ciento", "tres veces más").
_NOT_COUNTED = frozenset(
    """ciento por mil millón punto enero febrero marzo abril mayo junio julio agosto
    septiembre octubre noviembre diciembre""".split()
)


# --- the person a noun names --------------------------------------------------------------

#: Feminine forms the generator does not make from the masculine.
_FEMININE = {"actor": "actriz", "rey": "reina", "príncipe": "princesa"}
#: Nouns used for either sex whatever their gender ("un modelo a seguir", "una persona").
_ANY_SEX = frozenset("modelo miembro ídolo genio personaje individuo ser bebé".split())


@check(
    "es-referent-gender",
    "{subject} is {what}, so: {fix}.",
    "{subject} es {what_es}, así que: {fix}.",
)
def referent_gender(sentence: Sentence) -> Iterator[Finding]:
    """ "ella es un jugador" -> "una jugadora"; "él es una estudiante" -> "un estudiante"."""
    for index in range(len(sentence) - 2):
        group = _copula_group(sentence, index)
        if group is None or not any(r.lemma == "ser" for r in group[0]):
            continue
        back = group[1]
        while sentence.word(back - 1) in _BEFORE_COPULA:
            back -= 1
        pronoun = PRONOUNS.get(sentence.word(back - 1))
        if pronoun is None or pronoun.gender is None or pronoun.number != "sg":
            continue
        if not sentence.opens_clause(back - 1) and sentence.word(back - 2) != "y":
            continue
        at = index + 1
        if sentence.word(at) == "como":
            at += 1  # "ella es como un líder"
        own = determiner_features(sentence.word(at))
        noun = sentence.at(at + 1)
        head = noun_head(noun)
        if own is None or noun is None or head is None or not noun.only("n"):
            continue
        if sentence.word(at) not in ("un", "una", "el", "la") or head.number != "sg":
            continue
        gender = pronoun.gender
        if head.reading.lemma in _ANY_SEX or head.gender == gender:
            continue
        if head.gender == "mf":
            if own[0] in (gender, "mf"):
                continue
            form = noun.text
        elif gender == "f" and head.reading.lemma in _FEMININE:
            form = _FEMININE[head.reading.lemma]
        else:
            form = inflect(head.reading, gender=gender) or ""
            if not form or form.casefold() == noun.lower:
                continue  # "él es una persona": one gender for everyone
        determiner = determiner_form(sentence.word(at), gender, "sg")
        if determiner is None:
            continue
        start, end, _ = sentence.span(at, at + 1)
        subject = sentence.tokens[back - 1].text
        fields = (("subject", subject[:1].upper() + subject[1:]), *_describe(gender, None))
        yield Finding(
            start, end, f"{determiner} {form}", "gender_agreement", "es-referent-gender", fields
        )
