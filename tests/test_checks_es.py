"""The built-in Spanish checks: each finds its mistake and leaves good Spanish alone."""

from __future__ import annotations

import pytest

from agents import lexicon_es
from agents.checks_es import NOTES, SpanishChecks
from agents.rules import ErrorEvent


@pytest.fixture
def morphology() -> None:
    """The analyser must be there: `make test` installs it, so its absence is a failure."""
    assert lexicon_es.analyser() is not None, (
        "Apertium's Spanish data is missing: scripts/bootstrap.sh test installs "
        "apertium-eng-spa and lttoolbox"
    )


needs_morphology = pytest.mark.usefixtures("morphology")


def _found(text: str, language: str = "en") -> list[ErrorEvent]:
    return SpanishChecks("es").check(text, language)


def _one(text: str, rule: str) -> ErrorEvent:
    events = [e for e in _found(text) if e.rule == rule]
    assert events, f"no {rule} in {text!r}"
    event = events[0]
    assert text[event.start : event.end] == event.wrong
    assert event.source == "rules"
    assert event.note
    return event


CASES = [
    # (text, rule, wrong, correction, category)
    ("Vivo en un casa grande.", "es-determiner-noun", "un casa", "una casa", "gender_agreement"),
    ("El clase es difícil.", "es-determiner-noun", "El clase", "La clase", "gender_agreement"),
    (
        "Leo en mis tiempo libre.",
        "es-determiner-noun",
        "mis tiempo",
        "mi tiempo",
        "number_agreement",
    ),
    ("Voy al ciudad.", "es-determiner-noun", "al ciudad", "a la ciudad", "article_contraction"),
    ("Cada días estudio.", "es-determiner-noun", "Cada días", "Cada día", "number_agreement"),
    ("Tengo una casa blanco.", "es-adjective-agreement", "blanco", "blanca", "gender_agreement"),
    ("Compré los libros rojo.", "es-adjective-agreement", "rojo", "rojos", "number_agreement"),
    ("Es una idea muy bueno.", "es-adjective-agreement", "bueno", "buena", "gender_agreement"),
    (
        "Es una persona simpático y gracioso.",
        "es-adjective-agreement",
        "simpático",
        "simpática",
        "gender_agreement",
    ),
    (
        "La tienda estaba cerrado.",
        "es-predicate-agreement",
        "cerrado",
        "cerrada",
        "gender_agreement",
    ),
    ("Ella está cansado.", "es-predicate-agreement", "cansado", "cansada", "gender_agreement"),
    ("Mis ojos son azul.", "es-predicate-agreement", "azul", "azules", "number_agreement"),
    ("Trabajé todo la tarde.", "es-todo-agreement", "todo", "toda", "gender_agreement"),
    ("Leo todo los libros.", "es-todo-agreement", "todo", "todos", "number_agreement"),
    ("Llovió toda el día.", "es-todo-agreement", "toda", "todo", "gender_agreement"),
    (
        "Hay mucho gente aquí.",
        "es-determiner-noun",
        "mucho gente",
        "mucha gente",
        "gender_agreement",
    ),
    (
        "Vendemos las casas muy pequeña.",
        "es-adjective-agreement",
        "pequeña",
        "pequeñas",
        "number_agreement",
    ),
    (
        "Mi tía es alta y delgado.",
        "es-predicate-agreement",
        "delgado",
        "delgada",
        "gender_agreement",
    ),
    (
        "Ella es baja y simpático.",
        "es-predicate-agreement",
        "simpático",
        "simpática",
        "gender_agreement",
    ),
    ("Soy cansado hoy.", "es-ser-estar", "Soy", "Estoy", "ser_estar"),
    ("Ella es en la casa.", "es-ser-estar", "es", "está", "ser_estar"),
    ("Yo soy estudiando.", "es-ser-estar", "soy", "estoy", "ser_estar"),
    ("Estoy estudiante de biología.", "es-ser-estar", "Estoy", "Soy", "ser_estar"),
    ("Estoy de México.", "es-ser-estar", "Estoy", "Soy", "ser_estar"),
    ("Es muy importante y está muy necesario.", "es-ser-estar", "está", "es", "ser_estar"),
    ("Visito mi abuela los domingos.", "es-personal-a", "Visito mi", "Visito a mi", "personal_a"),
    ("Ayudo Camila con la tarea.", "es-personal-a", "Ayudo Camila", "Ayudo a Camila", "personal_a"),
    ("Conozco el profesor.", "es-personal-a", "Conozco el", "Conozco al", "personal_a"),
    ("Gracias para la comida.", "es-por-para", "Gracias para", "Gracias por", "por_para"),
    ("Para ejemplo, me gusta nadar.", "es-por-para", "Para ejemplo", "Por ejemplo", "por_para"),
    ("Estudio para dos horas.", "es-por-para", "para", "por", "por_para"),
    ("Me gusta música.", "es-article-liked", "gusta música", "gusta la música", "article"),
    ("Me gusta perros.", "es-article-liked", "gusta perros", "gustan los perros", "article"),
    ("Gente es muy simpática aquí.", "es-article-subject", "Gente", "La gente", "article"),
    ("Mañana voy a escuela.", "es-article-place", "a escuela", "a la escuela", "article"),
    ("Tambien me gusta bailar.", "es-accent", "Tambien", "También", "spelling_accent"),
    ("Escucho musica.", "es-accent", "musica", "música", "spelling_accent"),
    ("Es una cancion bonita.", "es-accent", "cancion", "canción", "spelling_accent"),
    ("Hablo espanol.", "es-spelling", "espanol", "español", "spelling"),
    ("Es muy differente.", "es-spelling", "differente", "diferente", "spelling"),
    ("El es mi hermano.", "es-accent-context", "El", "Él", "spelling_accent"),
    ("Para mi es difícil.", "es-accent-context", "mi", "mí", "spelling_accent"),
    ("Ella esta en casa.", "es-accent-context", "esta", "está", "spelling_accent"),
    ("Es mas grande.", "es-accent-context", "mas", "más", "spelling_accent"),
    ("¿Que hora es?", "es-accent-context", "Que", "Qué", "spelling_accent"),
    ("Ella me ayudo mucho.", "es-accent-context", "ayudo", "ayudó", "spelling_accent"),
    ("Yo es alto.", "es-subject-verb", "es", "soy", "verb_conjugation"),
    ("Ellos tiene un perro.", "es-subject-verb", "tiene", "tienen", "verb_conjugation"),
    ("Nosotros va a la playa.", "es-subject-verb", "va", "vamos", "verb_conjugation"),
    ("Mis padres es simpáticos.", "es-subject-verb", "es", "son", "verb_conjugation"),
    ("Yo gusta el café.", "es-gustar", "Yo gusta", "Me gusta", "gustar"),
    ("Ella le gusta bailar.", "es-gustar", "Ella", "A ella", "gustar"),
    # the noun phrase as a whole
    (
        "Un famoso persona vive aquí.",
        "es-phrase-agreement",
        "Un famoso persona",
        "Una famosa persona",
        "gender_agreement",
    ),
    ("Tiene bonitas colores.", "es-bare-prenominal", "bonitas", "bonitos", "gender_agreement"),
    ("Tengo dos coche.", "es-counted-noun", "dos coche", "dos coches", "number_agreement"),
    ("Tengo uno hermana.", "es-uno-before-noun", "uno hermana", "una hermana", "gender_agreement"),
    (
        "Es uno de las personas más famosas.",
        "es-part-agreement",
        "uno",
        "una",
        "gender_agreement",
    ),
    (
        "Vi todo películas.",
        "es-todos-bare",
        "todo películas",
        "todas las películas",
        "gender_agreement",
    ),
    (
        "Fue lo único razón.",
        "es-article-before-noun",
        "lo único razón",
        "la única razón",
        "article",
    ),
    (
        "Tengo varios casas.",
        "es-determiner-noun",
        "varios casas",
        "varias casas",
        "gender_agreement",
    ),
    (
        "Necesito mucho ayuda.",
        "es-determiner-noun",
        "mucho ayuda",
        "mucha ayuda",
        "gender_agreement",
    ),
    (
        "Hablo para la proyecto.",
        "es-determiner-noun",
        "la proyecto",
        "el proyecto",
        "gender_agreement",
    ),
    # subjects and predicates
    ("Somos joven.", "es-plural-predicate", "joven", "jóvenes", "number_agreement"),
    (
        "La comida mexicana es muy bueno.",
        "es-predicate-agreement",
        "bueno",
        "buena",
        "gender_agreement",
    ),
    (
        "Ella va a ser sorprendido.",
        "es-predicate-agreement",
        "sorprendido",
        "sorprendida",
        "gender_agreement",
    ),
    ("Ella es un jugador.", "es-referent-gender", "un jugador", "una jugadora", "gender_agreement"),
    (
        "Me gusta la comida japonés.",
        "es-adjective-agreement",
        "japonés",
        "japonesa",
        "gender_agreement",
    ),
    (
        "Mis amigos recomienda el libro.",
        "es-subject-verb",
        "recomienda",
        "recomiendan",
        "verb_conjugation",
    ),
    ("Me encanta los animales.", "es-liked-agreement", "encanta", "encantan", "gustar"),
    ("Me gustan el café.", "es-liked-agreement", "gustan", "gusta", "gustar"),
    # words the dictionary lacks or the learner mistyped
    (
        "Mi vacacion perfecto es aquí.",
        "es-adjective-agreement",
        "perfecto",
        "perfecta",
        "gender_agreement",
    ),
    (
        "Ella es muy talentoso.",
        "es-predicate-agreement",
        "talentoso",
        "talentosa",
        "gender_agreement",
    ),
    (
        "Tiene muchas segidores.",
        "es-determiner-noun",
        "muchas segidores",
        "muchos seguidores",
        "gender_agreement",
    ),
    ("Tiene segidores.", "es-spelling", "segidores", "seguidores", "spelling"),
    # articles, ser and estar, prepositions
    (
        "Vivo cerca de universidad.",
        "es-article-place",
        "de universidad",
        "de la universidad",
        "article",
    ),
    ("Vamos a la España.", "es-article-country", "la España", "España", "article"),
    ("Quiero un otro libro.", "es-extra-article", "un otro", "otro", "article"),
    ("Hablo el español.", "es-extra-article", "el español", "español", "article"),
    ("El parque es cerca de mi casa.", "es-ser-estar", "es", "está", "ser_estar"),
    ("He sido haciendo deporte.", "es-ser-estar", "sido", "estado", "ser_estar"),
    ("Miro ella.", "es-personal-a", "Miro ella", "Miro a ella", "personal_a"),
    (
        "Voy a visitar a muchos parques.",
        "es-no-personal-a",
        "visitar a muchos",
        "visitar muchos",
        "personal_a",
    ),
    ("Estoy feliz para ella.", "es-por-para", "feliz para ella", "feliz por ella", "por_para"),
]


@needs_morphology
@pytest.mark.parametrize(("text", "rule", "wrong", "fix", "category"), CASES)
def test_each_check_finds_its_mistake(
    text: str, rule: str, wrong: str, fix: str, category: str
) -> None:
    event = _one(text, rule)
    assert (event.wrong, event.correction, event.category) == (wrong, fix, category)


CORRECT = [
    "Vivo en una casa grande.",
    "Es una de las primeras.",
    "Todo tipo de música.",
    "Lo mismo pasa siempre.",
    "Lo mejor es dormir.",
    "Somos jóvenes y felices.",
    "Mis colores favoritos son rojo y azul.",
    "Mi especialidad es inglés.",
    "Él es una persona buena.",
    "Ella es un modelo a seguir.",
    "La madre de mis amigos es simpática.",
    "Estudio mucho historia.",
    "Es mucho más grande.",
    "Me gusta el café y el té.",
    "Las cosas que me encantaban hacer.",
    "La España de los años cincuenta.",
    "Es aquí donde vivo.",
    "La película estuvo muy interesante.",
    "Miró a las montañas.",
    "Compré comida para dos días.",
    "Mi clase de español es difícil.",
    "Esa memoria nunca la olvidaré.",
    "Mi hermano y yo vamos al cine.",
    "Él es más alto que yo.",
    "Esas trabajan mucho.",
    "Ella es muy talentosa y relajada.",
    "Bebo el agua fría.",
    "Tenía tanta hambre.",
    "La veo mañana.",
    "Esas son buenas noticias.",
    "Este era un problema.",
    "Los lunes voy al parque.",
    "La modelo y el/la entrenador/a.",
    "Tengo una casa blanca y dos libros rojos.",
    "Es una persona simpática y graciosa.",
    "La corrida de toros española.",
    "Los colores rojo y azul.",
    "Pasamos mucho tiempo juntos.",
    "Una camisa y un pantalón blancos.",
    "El niño limpia la casa.",
    "La tienda estaba cerrada.",
    "Mi madre es profesora.",
    "Estoy cansado hoy.",
    "La fiesta es en mi casa.",
    "Estoy un poco cansado.",
    "Estoy de acuerdo.",
    "Fue sorprendido por la noticia.",
    "Visito a mi abuela.",
    "Me llamo Juan.",
    "Me visitó mi madre.",
    "Visito Venecia y Roma.",
    "Vi Titanic ayer.",
    "Veo la televisión.",
    "Por ejemplo, me gusta nadar.",
    "Compré comida para dos días.",
    "Tengo planes para la noche.",
    "Me gusta la música.",
    "Me gusta leer.",
    "Me gusta mayo.",
    "Voy a casa y después a clase.",
    "También me gusta la música.",
    "Me gusta el anime.",
    "Él tiene el pelo negro.",
    "Para mi madre es difícil.",
    "Esta casa es bonita.",
    "¿Puedo probarme esta?",
    "Yo soy alto.",
    "Mi familia y yo fuimos a Perú.",
    "Mi problema son los exámenes.",
    "A ella le gusta bailar.",
    "Me gusta el café.",
    "Trabajé toda la tarde y todos los días.",
    "Lo hice todo el verano.",
    "Todo lo que tengo.",
    "Hay mucha gente aquí.",
    "Vendemos casas muy pequeñas.",
    "Mi tía es alta y delgada.",
    "Ella no es alta.",
    "Tengo una amiga que es muy simpática.",
    "La madre de mi amigo que es simpática.",
    "Dice la profesora que es bueno estudiar.",
    "Le dije a una amiga que estaba cansado.",
    "Ella es alta, Juan es bajo.",
    "La sopa está fría, pero el pan es bueno.",
    "Ella está bajo la mesa.",
    "La casa está limpia y ordenada.",
    "Las casas también son caras.",
    "Ella es baja y simpática.",
    "Mi hermano tiene el pelo corto.",
    "Tengo los ojos verdes.",
    "Tiene ojos de gato.",
    "Tiene ojos azules.",
    "Nos dio a todos muchas cosas.",
    "Cuando nacimos todos mi madre vivía allí.",
    "Tengo pelo.",
    "Mi hermano tiene pelo corto.",  # the article is usual here, not required
    "Leo los últimos libros y las bonitas flores.",
    "Es la primera vez en una gran casa.",
    "Es un buen libro.",
]


@needs_morphology
@pytest.mark.parametrize("text", CORRECT)
def test_correct_spanish_is_left_alone(text: str) -> None:
    assert _found(text) == []


@needs_morphology
def test_notes_come_in_the_explanation_language() -> None:
    [english] = _found("Vivo en un casa.", "en")
    [spanish] = _found("Vivo en un casa.", "es")
    assert "feminine" in english.note
    assert "femenino" in spanish.note
    assert all(set(note) == {"en", "es"} for note in NOTES.values())


def test_only_for_spanish() -> None:
    assert SpanishChecks("en").check("Vivo en un casa. Gracias para todo.") == []


def test_without_the_morphology_only_text_checks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    running = lexicon_es.analyser()
    if running is not None:
        running.close()
    monkeypatch.setattr(lexicon_es, "ANALYSER_BIN", lexicon_es.APERTIUM_DIR / "missing.bin")
    lexicon_es.analyser.cache_clear()
    try:
        assert lexicon_es.analyser() is None
        events = SpanishChecks("es").check("Vivo en un casa. Gracias para todo.")
        assert [(e.rule, e.correction) for e in events] == [("es-por-para", "Gracias por")]
    finally:
        monkeypatch.undo()
        lexicon_es.analyser.cache_clear()


@needs_morphology
def test_a_crashed_analyser_is_restarted() -> None:
    running = lexicon_es.analyser()
    assert running is not None
    SpanishChecks("es").check("Vivo en un casa.")  # the analyser's lt-proc is up
    process = running._analyse._process
    assert process is not None
    process.kill()
    process.wait()
    events = SpanishChecks("es").check("Tengo una perro negro.")
    assert [(e.rule, e.correction) for e in events] == [("es-determiner-noun", "un perro")]
    assert not running._analyse.failed
