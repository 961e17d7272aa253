"""Property-based tests of the curriculum loader: any text is a ``Checked``, never a crash.

``tutor.curricula.check`` (the staff editor's validation, over :func:`agents.curriculum.parse`)
gets arbitrary text, arbitrary YAML and mutations of a shipped curriculum: it must return a
``Checked`` holding the curriculum or problems at lines of the text, and changes that keep the
format (a new translation or example) must still load.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agents.curriculum import MAX_NODES, shipped
from tests.support.properties import examples
from tutor import curricula
from tutor.curricula import Checked

pytestmark = [pytest.mark.reliability]

DEFAULT = examples(300)
LONG = settings(DEFAULT, max_examples=5000, deadline=10_000)
SPANISH = next(path for path in shipped() if path.name.startswith("es-for-en"))


def _small(text: str) -> str:
    """The shipped curriculum cut to its first unit's first three of everything: the same
    format, fast enough to check hundreds of times."""
    data = yaml.safe_load(text)
    level = data["levels"][0]
    unit = level["units"][0]
    for kind in ("vocabulary", "grammar", "scenarios", "drills"):
        if kind in unit:
            unit[kind] = unit[kind][:3]
    level["units"] = [unit]
    data["levels"] = [level]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


SMALL = _small(SPANISH.read_text(encoding="utf-8"))
SMALL_DATA = yaml.safe_load(SMALL)

#: Lines and fragments YAML and the schema both care about.
FRAGMENTS = st.sampled_from(
    ["- ", ": ", "  ", "\t", "&a ", "*a", "<<: *a", "!!python/object:os.system", "? [a]",
     "--- ", "...", "'", '"', "{", "}", "[", "]", "#", "|", ">", "%YAML 1.1", "\ud800", "\0",
     "version: 99999999999999999999", "id: ²", "levels: []", "code: Z9", "pos: exclamation"]
)  # fmt: skip


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """The small curriculum with one to four line-level edits."""
    lines = SMALL.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "indent", "cut"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "insert":
            piece = draw(FRAGMENTS | st.text(max_size=30))
            column = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:column] + piece + lines[at][column:]
        elif action == "indent":
            lines[at] = " " * draw(st.integers(0, 9)) + lines[at].lstrip()
        else:
            lines = lines[: at + 1]
        if not lines:
            lines = [""]
    return "\n".join(lines)


YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(["es", "en", "A1", "noun", "m", "x-1", 1, 0, -1]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "version",
                    "title",
                    "levels",
                    "units",
                    "code",
                    "vocabulary",
                    "lemma",
                    "pos",
                    "translations",
                    "target_language",
                    "examples",
                    "explanation_languages",
                    "grammar",
                    "patterns",
                    "match",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),  # fmt: skip
    max_leaves=25,
)
TEXTS = (
    st.text(max_size=400)
    | mutated_text()
    | YAML_VALUES.map(lambda value: yaml.safe_dump(value, allow_unicode=True))
)


def _assert_checked(text: str) -> Checked:
    checked = curricula.check(text)
    assert isinstance(checked, Checked)
    assert (checked.curriculum is None) == bool(checked.problems), checked
    line_count = text.count("\n") + 2
    for problem in checked.problems:
        assert problem.line is None or 1 <= problem.line <= line_count, problem
        assert str(problem)
    curricula.header(text)
    curricula.version_line(text)
    return checked


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
)


@DEFAULT
@given(text=TEXTS)
@example(text="[" * 3000)
@example(text="{a: " * 400 + "}" * 400)
@example(text=BILLION_LAUGHS)
@example(text="a: &a [*a]\n")
@example(text="id: x\nversion: ²\n")
@example(text="id: x\nversion: " + "9" * 5000 + "\n")
@example(text="id: \ud800\n")
@example(text="id: x\nversion: 2001-02-30\n")
@example(text="version: 1\nid: x\ntitle: " + "9" * 5000 + "\n")
@example(text="!!python/object/apply:os.system ['true']")
def test_any_text_is_checked_with_problems_at_lines(text: str) -> None:
    """Injects: arbitrary text, arbitrary YAML, line-level mutations of a shipped curriculum,
    3,000 open brackets, a "billion laughs" alias bomb, a self-referencing alias, "version: ²",
    a lone surrogate, a python/object tag.
    Checks: check() returns a Checked with the curriculum or problems at lines inside the
    text (header() and version_line() too), within the deadline; never an exception."""
    _assert_checked(text)


def test_an_alias_bomb_is_refused_quickly() -> None:
    """Injects: a nine-line YAML whose aliases expand to 9^9 nodes ("billion laughs").
    Checks: check() refuses it with one problem naming the node limit, in under a second."""
    import time

    started = time.perf_counter()
    checked = curricula.check(BILLION_LAUGHS + "# quick\n")
    assert time.perf_counter() - started < 1.0
    assert [str(MAX_NODES) in p.message for p in checked.problems] == [True]


def _vocabulary_slots(data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [
        (container, key)
        for item in data["levels"][0]["units"][0]["vocabulary"]
        for container, keys in ((item["translations"], list(item["translations"])),
                                (item["example_translation"], list(item["example_translation"])))
        for key in keys
    ]  # fmt: skip


PROSE = st.text(
    st.characters(categories=["L", "N", "P", "Zs", "S"], exclude_characters="\x85\u2028\u2029"),
    max_size=60,
)


@settings(DEFAULT, max_examples=60)
@given(data=st.data())
def test_format_keeping_changes_still_load(data: st.DataObject) -> None:
    """Injects: new translations and examples (any letters, digits, punctuation, symbols,
    emoji) written into a shipped curriculum, then dumped back to YAML.
    Checks: the text still loads as a curriculum carrying the new words."""
    changed = copy.deepcopy(SMALL_DATA)
    slots = _vocabulary_slots(changed)
    for _ in range(data.draw(st.integers(1, 3))):
        container, key = data.draw(st.sampled_from(slots))
        container[key] = data.draw(PROSE)
    item = changed["levels"][0]["units"][0]["vocabulary"][0]
    example = data.draw(PROSE.filter(lambda text: len(text.strip()) >= 3))
    item["example"] = example
    checked = _assert_checked(yaml.safe_dump(changed, sort_keys=False, allow_unicode=True))
    assert checked.curriculum is not None, checked.problems
    unit = next(checked.curriculum.units())
    assert unit.vocabulary[0].example.casefold() == _nfc(example).casefold()


def _nfc(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", text.strip())


@settings(DEFAULT, max_examples=40)
@given(data=st.data())
def test_a_wrong_value_is_reported_at_its_line(data: st.DataObject) -> None:
    """Injects: one vocabulary item's part of speech replaced by a word the format lacks.
    Checks: check() refuses the text with a problem at exactly that line."""
    lines = SMALL.split("\n")
    pos_lines = [n for n, line in enumerate(lines) if line.strip().startswith("pos:")]
    at = data.draw(st.sampled_from(pos_lines))
    word = data.draw(st.sampled_from(["exclamation", "nounn", "Verb", "'[]'", "42"]))
    lines[at] = lines[at].split("pos:")[0] + f"pos: {word}"
    checked = _assert_checked("\n".join(lines))
    assert checked.curriculum is None
    assert at + 1 in [problem.line for problem in checked.problems]


@LONG
@pytest.mark.long
@given(text=TEXTS)
def test_any_text_is_checked_long(text: str) -> None:
    """Injects: thousands of arbitrary texts, YAML documents and mutated curricula.
    Checks: check() returns a Checked with problems at lines; never an exception."""
    _assert_checked(text)
