"""The tolerant answer checker: the table of learner answers, notes, alternatives and helpers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agents.answers import KINDS, Verdict, check_answer, damerau_levenshtein, normalise

TABLE = Path(__file__).parent / "data" / "answers.tsv"
RIGHT = {"exact", "accent", "article_missing", "typo"}


def _rows() -> list[tuple[str, str, str, str, bool]]:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert header == ["language", "expected", "answer", "verdict_kind", "correct"]
        rows = []
        for language, expected, answer, kind, correct in reader:
            assert correct in ("true", "false")
            rows.append((language, expected, answer, kind, correct == "true"))
    return rows


ROWS = _rows()


@pytest.mark.parametrize(
    ("language", "expected", "answer", "kind", "correct"),
    ROWS,
    ids=[f"{row[0]}:{row[1]}:{row[2]!r}" for row in ROWS],
)
def test_table(language: str, expected: str, answer: str, kind: str, correct: bool) -> None:
    verdict = check_answer(expected, answer, language=language)
    assert (verdict.kind, verdict.correct) == (kind, correct), verdict.note


def test_table_covers_every_kind_in_both_languages() -> None:
    assert len(ROWS) >= 220
    for language in ("es", "en"):
        rows = [row for row in ROWS if row[0] == language]
        assert len(rows) >= 100
    assert {row[3] for row in ROWS} == set(KINDS)
    assert all((row[3] in RIGHT) == row[4] for row in ROWS)


@pytest.mark.parametrize(
    ("language", "expected", "answer", "english", "spanish"),
    [
        (
            "es",
            "el café",
            "el cafe",
            "Correct! Watch the accent: el café.",
            "¡Correcto! Ojo con la tilde: el café.",
        ),
        ("es", "año", "ano", "Correct! Watch the ñ: año.", "¡Correcto! Ojo con la ñ: año."),
        (
            "es",
            "el café",
            "cafe",
            "Correct! Remember the article: el café.",
            "¡Correcto! Recuerda el artículo: el café.",
        ),
        (
            "es",
            "la mano",
            "el mano",
            "Almost: mano is feminine, so it's la mano.",
            "Casi: mano es femenino, así que es la mano.",
        ),
        (
            "es",
            "el libro",
            "los libro",
            "Almost: libro is singular, so it's el libro.",
            "Casi: libro es singular, así que es el libro.",
        ),
        ("es", "el agua", "la agua", "Almost: it's el agua.", "Casi: es el agua."),
        (
            "es",
            "manzana",
            "manzna",
            "Correct! Careful with the spelling: manzana.",
            "¡Correcto! Cuidado con la ortografía: manzana.",
        ),
        ("es", "perro", "pero", "Not quite — it's perro.", "No exactamente: es perro."),
        (
            "en",
            "apple",
            "a apple",
            "Correct! It's an apple (an before a vowel sound).",
            "¡Correcto! Es an apple (an delante de sonido vocálico).",
        ),
        (
            "en",
            "a house",
            "an house",
            "Correct! It's a house (a before a consonant sound).",
            "¡Correcto! Es a house (a delante de sonido consonántico).",
        ),
        (
            "es",
            "¿Qué tal?",
            "que tal",
            "Correct! Watch the accent: ¿Qué tal?",
            "¡Correcto! Ojo con la tilde: ¿Qué tal?",
        ),
    ],
)
def test_notes_in_the_explanation_language(
    language: str, expected: str, answer: str, english: str, spanish: str
) -> None:
    assert check_answer(expected, answer, language=language, explain_in="en").note == english
    assert check_answer(expected, answer, language=language, explain_in="es").note == spanish
    assert check_answer(expected, answer, language=language, explain_in="es-MX").note == spanish
    assert check_answer(expected, answer, language=language, explain_in="fr").note == english


@pytest.mark.parametrize(("language", "expected", "answer", "kind", "correct"), ROWS[::3])
@pytest.mark.parametrize("explain_in", ["en", "es"])
def test_notes_name_the_expected_form(
    language: str, expected: str, answer: str, kind: str, correct: bool, explain_in: str
) -> None:
    verdict = check_answer(expected, answer, language=language, explain_in=explain_in)
    if verdict.kind == "exact":
        assert verdict.note == ""
    elif verdict.kind == "empty":
        assert verdict.note
        assert verdict.expected not in verdict.note
    else:
        assert verdict.expected.split()[-1] in verdict.note
    spanish = ("¡Correcto!", "Casi:", "No exactamente:", "Escribe")
    assert (verdict.note.startswith(spanish)) == (explain_in == "es" and verdict.kind != "exact")


def test_exact_answers_have_no_note() -> None:
    assert check_answer("el café", "El café.") == Verdict(True, "exact", "el café", "")


def test_empty_answers_ask_for_the_word() -> None:
    english = check_answer("gato", "👍", explain_in="en")
    spanish = check_answer("gato", "  ", explain_in="es")
    assert english == Verdict(False, "empty", "gato", "Please type the word to answer.")
    assert spanish == Verdict(False, "empty", "gato", "Escribe la palabra para responder.")


@pytest.mark.parametrize(
    "expected",
    ["coche / carro", "coche;carro", ["coche", "carro"], ("coche", "carro"), ["coche / carro"]],
)
def test_alternatives(expected: str | list[str] | tuple[str, ...]) -> None:
    assert check_answer(expected, "carro") == Verdict(True, "exact", "carro", "")
    assert check_answer(expected, "Coche!") == Verdict(True, "exact", "coche", "")
    wrong = check_answer(expected, "moto", explain_in="en")
    assert wrong == Verdict(False, "wrong", "coche", "Not quite — it's coche (also: carro).")
    spanish = check_answer(expected, "moto", explain_in="es")
    assert spanish.note == "No exactamente: es coche (también: carro)."


def test_the_best_alternative_wins() -> None:
    verdict = check_answer("el coche / el carro", "el caro")
    assert (verdict.kind, verdict.correct) == ("wrong", False)
    verdict = check_answer("la computadora / el ordenador", "el ordenador")
    assert (verdict.kind, verdict.expected) == ("exact", "el ordenador")
    verdict = check_answer(["el auto", "el automóvil"], "el automovil")
    assert (verdict.kind, verdict.expected) == ("accent", "el automóvil")
    verdict = check_answer(["el coche", "carro"], "coche")
    assert (verdict.kind, verdict.expected) == ("article_missing", "el coche")
    verdict = check_answer(["la mano", "mano"], "el mano")
    assert (verdict.kind, verdict.expected) == ("exact", "mano")
    verdict = check_answer("film / movie", "moive", language="en")
    assert (verdict.kind, verdict.expected) == ("typo", "movie")


def test_a_lone_article_alternative_takes_the_noun() -> None:
    feminine = check_answer("el/la estudiante", "la estudiante")
    assert (feminine.kind, feminine.expected) == ("exact", "la estudiante")
    bare = check_answer("el/la estudiante", "estudiante")
    assert (bare.kind, bare.expected) == ("article_missing", "el estudiante")


def test_expected_must_hold_a_form() -> None:
    with pytest.raises(ValueError, match="no expected form"):
        check_answer(" / ", "gato")


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("gato", "gato", 0),
        ("gato", "", 4),
        ("gato", "gtao", 1),
        ("perro", "pero", 1),
        ("ca", "abc", 2),
        ("manzana", "mnazaan", 2),
        ("kitten", "sitting", 3),
    ],
)
def test_damerau_levenshtein(a: str, b: str, distance: int) -> None:
    assert damerau_levenshtein(a, b) == distance
    assert damerau_levenshtein(b, a) == distance


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("  ¿Qué   TAL?  ", "qué tal"),
        ("¡Hola!", "hola"),
        ("«el libro»", "el libro"),
        ("don’t", "don't"),
        ("well-known", "well known"),
        ("cafe\u0301", "café"),
        ("👋🏽 hola ☀️", "hola"),
    ],
)
def test_normalise(text: str, normal: str) -> None:
    assert normalise(text) == normal
