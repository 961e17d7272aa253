"""Curriculum files: validated on load, every problem reported at its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.curriculum import MINIMUMS, CurriculumError, load, parse, shipped

TUTOR = Path(sys.executable).parent / "tutor"

GOOD = """\
id: es-mini
version: 1
title: Tiny Spanish
target_language: es
explanation_languages: [en]
levels:
  - code: A1
    units:
      - id: a1-01
        title: {en: Greetings}
        vocabulary:
          - lemma: casa
            pos: noun
            gender: f
            translations: {en: house}
            example: "Mi casa es pequeña."
            example_translation: {en: "My house is small."}
        grammar:
          - id: al-del
            title: {en: "al and del"}
            explanation: {en: "a + el = al"}
            examples: ["Voy al parque."]
            targets: [article_contraction]
            patterns:
              - match: "\\\\bal playa\\\\b"
                correction: "a la playa"
                category: article_contraction
                note: {en: "Playa is feminine."}
        scenarios:
          - id: cafe
            title: {en: "At a café"}
            setting: {en: "A café in Madrid."}
            goal: {en: "Order a coffee and pay."}
            opening: "¡Buenos días! ¿Qué le pongo?"
            functions: [ordering]
            sample_turns: ["Un café, por favor."]
            follow_ups: ["¿Con leche?", "¿Algo más?", "¿Para tomar aquí?", "¿Paga con tarjeta?"]
            closing: "¡Gracias, hasta mañana!"
        drills:
          - id: r-01
            sentence: "El perro corre."
            sounds: [trilled_r]
            minimal_pairs: [[pero, perro]]
            tip: {en: "Roll it."}
"""


def test_a_good_file_loads() -> None:
    curriculum = parse(GOOD)
    assert curriculum.counts() == {
        "units": 1,
        "vocabulary": 1,
        "grammar": 1,
        "scenarios": 1,
        "drills": 1,
    }
    pattern = curriculum.levels[0].units[0].grammar[0].patterns[0]
    import re

    assert re.sub(pattern.match, pattern.correction, "Fui al playa", flags=re.I) == "Fui a la playa"


def _problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(CurriculumError) as caught:
        parse(text)
    return [(p.line, p.message) for p in caught.value.problems]


def test_a_missing_gender_is_reported_at_its_item() -> None:
    broken = GOOD.replace("            gender: f\n", "")
    [(line, message)] = _problems(broken)
    assert "needs a gender" in message
    assert line == GOOD.splitlines().index("          - lemma: casa") + 1


def test_field_errors_point_at_their_line() -> None:
    broken = GOOD.replace("pos: noun", "pos: nown")
    [(line, message)] = _problems(broken)
    assert line == GOOD.splitlines().index("            pos: noun") + 1
    assert "Input should be" in message


def test_a_bad_regex_is_reported_at_its_line() -> None:
    broken = GOOD.replace("\\\\bal playa\\\\b", "(al playa")
    [(line, message)] = _problems(broken)
    assert "not a valid regular expression" in message
    assert line == next(n for n, text in enumerate(GOOD.splitlines(), 1) if "match:" in text)


def test_yaml_syntax_errors_have_a_line() -> None:
    [(line, message)] = _problems(GOOD.replace("title: Tiny Spanish", "title: [Tiny"))
    assert "not valid YAML" in message
    assert line is not None


def test_duplicate_ids_and_lemmas() -> None:
    doubled = GOOD.replace("      - id: a1-01\n", "      - id: r-01\n")
    [(_, message)] = _problems(doubled)
    assert "'r-01' is used twice" in message


FOLLOW_UPS = (
    '            follow_ups: ["¿Con leche?", "¿Algo más?", '
    '"¿Para tomar aquí?", "¿Paga con tarjeta?"]\n'
)


def test_a_scenario_without_follow_ups_is_reported_at_the_scenario() -> None:
    [(line, message)] = _problems(GOOD.replace(FOLLOW_UPS, ""))
    assert message == "Field required"
    assert line == GOOD.splitlines().index("          - id: cafe") + 1


def test_too_few_follow_ups_are_reported_at_their_line() -> None:
    [(line, message)] = _problems(GOOD.replace(', "¿Paga con tarjeta?"', ""))
    assert "at least 4" in message
    assert line == GOOD.splitlines().index(FOLLOW_UPS.rstrip("\n")) + 1


def test_follow_ups_and_closing_are_stripped_and_nfc() -> None:
    decomposed = GOOD.replace('"¿Algo más?"', '"  ¿Algo ma\u0301s? "').replace(
        '"¡Gracias, hasta mañana!"', '" ¡Gracias, hasta man\u0303ana! "'
    )
    [scenario] = parse(decomposed).levels[0].units[0].scenarios
    assert scenario.follow_ups[1] == "¿Algo más?"
    assert scenario.closing == "¡Gracias, hasta mañana!"


def test_the_closing_is_optional() -> None:
    curriculum = parse(GOOD.replace('            closing: "¡Gracias, hasta mañana!"\n', ""))
    [scenario] = curriculum.levels[0].units[0].scenarios
    assert scenario.closing is None


def test_validate_command_prints_problems_with_lines(tmp_path: Path) -> None:
    broken = tmp_path / "broken.v1.yaml"
    broken.write_text(GOOD.replace("pos: noun", "pos: nown"), encoding="utf-8")
    result = subprocess.run(
        [str(TUTOR), "curriculum", "validate", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"{broken}: line 13: levels.0.units.0.vocabulary.0.pos:" in result.stderr
    small = tmp_path / "small.v1.yaml"
    small.write_text(GOOD, encoding="utf-8")
    short = subprocess.run(
        [str(TUTOR), "curriculum", "validate", str(small)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert short.returncode == 1
    assert "short of the minimum" in short.stderr


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.name)
def test_shipped_curricula_are_valid_and_complete(path: Path) -> None:
    curriculum = load(path)
    counts = curriculum.counts()
    for key, minimum in MINIMUMS.items():
        assert counts[key] >= minimum, f"{path.name}: {key} {counts[key]} < {minimum}"
    levels = [level.code for level in curriculum.levels]
    assert levels[:2] == ["A1", "A2"]


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.name)
def test_every_shipped_scenario_has_the_tutors_side(path: Path) -> None:
    curriculum = load(path)
    spanish = curriculum.target_language == "es"
    bad = []
    for unit in curriculum.units():
        for scenario in unit.scenarios:
            lines = scenario.follow_ups
            if len(lines) < 4 or len(set(lines)) != len(lines) or not scenario.closing:
                bad.append((scenario.id, "needs 4+ distinct follow-ups and a closing"))
            for line in lines:
                if not line.endswith("?") or "\n" in line or len(line) > 100:
                    bad.append((scenario.id, line))
                elif spanish and line.count("¿") != line.count("?"):
                    bad.append((scenario.id, line))
    assert not bad, f"{path.name}: {bad}"
