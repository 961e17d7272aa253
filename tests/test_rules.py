"""Curriculum-driven pattern rules: they catch classic mistakes and leave good text alone."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from agents.curriculum import Curriculum, load, shipped
from agents.rules import PatternRules, RuleEngine

CURRICULA = {path.name.split(".")[0]: path for path in shipped()}


@functools.cache
def _load(name: str) -> Curriculum:
    return load(CURRICULA[name])


def _curriculum(name: str) -> Curriculum:
    if name not in CURRICULA:
        pytest.skip(f"{name} is not shipped yet")
    return _load(name)


@pytest.mark.parametrize(
    ("text", "category", "fix"),
    [
        ("He have a car.", "third_person_s", "He has"),
        ("I have 25 years.", "verb_tense", "I am 25 years old"),
        ("People is very friendly here.", "plural", "People are"),
        ("She is more tall than me.", "comparative", "taller"),
        ("I am agree.", "false_friend", "I agree"),
    ],
)
def test_english_mistakes_are_found(text: str, category: str, fix: str) -> None:
    rules = PatternRules(_curriculum("en-for-es"))
    found = rules.check(text, "es")
    assert found, f"nothing found in {text!r}"
    event = found[0]
    assert event.source == "rules"
    assert text[event.start : event.end] == event.wrong
    assert event.note  # explained in Spanish for this curriculum
    assert (event.category, event.correction) == (category, fix)


@pytest.mark.parametrize("name", ["en-for-es", "es-for-en"])
def test_no_false_alarms_on_the_curriculums_own_sentences(name: str) -> None:
    curriculum = _curriculum(name)
    assert len(PatternRules(curriculum)) >= 25
    rules = RuleEngine(curriculum)
    alarms = []
    for unit in curriculum.units():
        sentences = [item.example for item in unit.vocabulary]
        sentences += [example for point in unit.grammar for example in point.examples]
        sentences += [turn for scenario in unit.scenarios for turn in scenario.sample_turns]
        sentences += [drill.sentence for drill in unit.drills]
        for sentence in sentences:
            for event in rules.check(sentence):
                alarms.append((sentence, event.wrong, event.rule))
    total = sum(1 for _ in curriculum.units())
    assert not alarms, f"{len(alarms)} false alarms in {total} units, e.g. {alarms[:3]}"


def test_overlaps_are_resolved_and_capitals_kept(tmp_path: Path) -> None:
    from agents.curriculum import parse

    text = """\
id: t
version: 1
title: t
target_language: es
explanation_languages: [en]
levels:
  - code: A1
    units:
      - id: u
        title: {en: u}
        grammar:
          - id: g
            title: {en: g}
            explanation: {en: g}
            examples: ["Voy a la playa."]
            targets: [article_contraction]
            patterns:
              - match: '\\bal playa\\b'
                correction: 'a la playa'
                category: article_contraction
                note: {en: n}
              - match: '\\bal playa grande\\b'
                correction: 'a la playa grande'
                category: article_contraction
                note: {en: n}
"""
    rules = PatternRules(parse(text))
    [event] = rules.check("Al playa grande fuimos.")
    assert event.wrong == "Al playa grande"
    assert event.correction == "A la playa grande"
    assert rules.check("Fuimos a la playa.") == []


@pytest.mark.parametrize(
    ("text", "wrong", "fix", "category"),
    [
        ("Ayer fui al playa con mis amigos.", "al playa", "a la playa", "article_contraction"),
        ("La problema es grande.", "La problema", "El problema", "gender_agreement"),
        ("Me duele el mano.", "el mano", "la mano", "gender_agreement"),
        ("Vivo en un casa grande.", "un casa", "una casa", "gender_agreement"),
        ("Tengo muchas problemas.", "muchas problemas", "muchos problemas", "gender_agreement"),
        ("Los casas son bonitas.", "Los casas", "Las casas", "gender_agreement"),
        ("Me gusta esta libro.", "esta libro", "este libro", "gender_agreement"),
        ("Vengo del playa.", "del playa", "de la playa", "article_contraction"),
        ("Tengo los libro aquí.", "los libro", "los libros", "number_agreement"),
        ("La casas son grandes.", "La casas", "Las casas", "number_agreement"),
    ],
)
def test_spanish_article_agreement(text: str, wrong: str, fix: str, category: str) -> None:
    engine = RuleEngine(_curriculum("es-for-en"))
    [event] = engine.check(text)
    assert (event.wrong, event.correction, event.category) == (wrong, fix, category)
    assert fix.split()[-1].casefold() in event.note.casefold()


@pytest.mark.parametrize(
    "text",
    [
        "Bebo el agua fría.",
        "Voy del parque a la playa.",
        "Tengo una mano fría.",
        "Él come en casa.",
        "La veo mañana.",
        "Tengo muchos problemas.",
        "Las aguas del río.",
        "Ningún problema.",
        "Los lunes voy al parque.",
        "Tengo dos libros.",
    ],
)
def test_spanish_correct_sentences_are_left_alone(text: str) -> None:
    assert RuleEngine(_curriculum("es-for-en")).check(text) == []
