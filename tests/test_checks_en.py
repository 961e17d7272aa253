"""The built-in English checks: a/an by sound, doubled comparatives; good English left alone."""

from __future__ import annotations

import pytest

from agents.checks_en import EnglishChecks

checks = EnglishChecks("en")


@pytest.mark.parametrize(
    ("text", "wrong", "right"),
    [
        ("I ate a apple for lunch.", "a apple", "an apple"),
        ("She is a engineer.", "a engineer", "an engineer"),
        ("We live in an house near the river.", "an house", "a house"),
        ("It was a honest mistake.", "a honest", "an honest"),
        ("I waited for a hour.", "a hour", "an hour"),
        ("He studies at an university in Madrid.", "an university", "a university"),
        ("A umbrella is useful here.", "A umbrella", "An umbrella"),
        ("My flat is more bigger than yours.", "more bigger", "bigger"),
        ("This is the most biggest city in Spain.", "most biggest", "biggest"),
        ("Your English is more better now!", "more better", "better"),
    ],
)
def test_finds_the_mistake(text: str, wrong: str, right: str) -> None:
    [event] = checks.check(text)
    assert (event.wrong, event.correction, event.source) == (wrong, right, "rules")
    assert text[event.start : event.end] == wrong


@pytest.mark.parametrize(
    "text",
    [
        "An hour later, a European friend called.",
        "I bought a one-way ticket and a uniform.",
        "It's an unusual and an unimportant detail.",
        "She is a useful person with an interesting job.",
        "This one is more beautiful and the most expensive.",
        "I need a USB cable and an MP3 player.",
        "Can I have a coffee? A big one, please.",
    ],
)
def test_good_english_is_left_alone(text: str) -> None:
    assert checks.check(text) == []


def test_notes_in_spanish_and_only_for_english() -> None:
    [event] = checks.check("It is a orange.", "es")
    assert event.note.startswith("Se usa an delante de sonido vocálico")
    assert EnglishChecks("es").check("It is a orange.") == []
