"""Curricula: the versioned YAML that says what a learner studies, validated on load.

The format is documented in ``docs/CURRICULUM.md``. :func:`load` parses a file
and validates it against the models below; every problem is reported with
the line it sits on, so ``tutor curriculum validate FILE`` can point at it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Language = Literal["es", "en"]
Level = Literal["A1", "A2", "B1", "B2", "C1"]
PartOfSpeech = Literal[
    "noun",
    "verb",
    "adjective",
    "adverb",
    "pronoun",
    "preposition",
    "conjunction",
    "determiner",
    "interjection",
    "numeral",
    "phrase",
]
Localised = dict[str, str]
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value.strip())
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VocabularyItem(_Model):
    lemma: str = Field(min_length=1)
    pos: PartOfSpeech
    gender: Literal["m", "f"] | None = None
    translations: Localised
    example: str = Field(min_length=3)
    example_translation: Localised

    _normalise = field_validator("lemma", "example", mode="before")(_nfc)


class Pattern(_Model):
    match: str
    correction: str
    category: str = Field(pattern=_CODE.pattern)
    note: Localised

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class GrammarPoint(_Model):
    id: str = Field(pattern=_ID.pattern)
    title: Localised
    explanation: Localised
    examples: list[str] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    patterns: list[Pattern] = []


class Scenario(_Model):
    """A role-play: the tutor's character says ``opening``, asks ``follow_ups``, then closes."""

    id: str = Field(pattern=_ID.pattern)
    title: Localised
    setting: Localised
    goal: Localised
    opening: str = Field(min_length=2)
    functions: list[str] = Field(min_length=1)
    sample_turns: list[str] = Field(min_length=1)
    #: The character's follow-up questions in the target language, in the order a real
    #: conversation takes them after ``opening``: one short chat line each, at the unit's
    #: level, each ending in a question (¿...? in Spanish) so the learner can always answer.
    follow_ups: list[str] = Field(min_length=4)
    #: What the character says once the follow-ups are used up (target language): a kind
    #: wrap-up that may suggest the next step.
    closing: str | None = Field(default=None, min_length=2)

    _normalise = field_validator("closing", mode="before")(_nfc)

    @field_validator("follow_ups", mode="before")
    @classmethod
    def _normalise_lines(cls, value: Any) -> Any:
        return [_nfc(line) for line in value] if isinstance(value, list) else value


class Drill(_Model):
    id: str = Field(pattern=_ID.pattern)
    sentence: str = Field(min_length=3)
    sounds: list[str] = Field(min_length=1)
    minimal_pairs: list[tuple[str, str]] = []
    tip: Localised


class Unit(_Model):
    id: str = Field(pattern=_ID.pattern)
    title: Localised
    vocabulary: list[VocabularyItem] = []
    grammar: list[GrammarPoint] = []
    scenarios: list[Scenario] = []
    drills: list[Drill] = []


class LevelBlock(_Model):
    code: Level
    units: list[Unit] = Field(min_length=1)


class Curriculum(_Model):
    id: str = Field(pattern=_ID.pattern)
    version: int = Field(ge=1)
    title: str
    target_language: Language
    explanation_languages: list[Language] = Field(min_length=1)
    #: New vocabulary cards a learner gets a day (the teacher's pace).
    new_words_per_day: int = Field(default=5, ge=1, le=50)
    levels: list[LevelBlock] = Field(min_length=1)

    def units(self) -> Iterator[Unit]:
        for level in self.levels:
            yield from level.units

    def counts(self) -> dict[str, int]:
        units = list(self.units())
        return {
            "units": len(units),
            "vocabulary": sum(len(u.vocabulary) for u in units),
            "grammar": sum(len(u.grammar) for u in units),
            "scenarios": sum(len(u.scenarios) for u in units),
            "drills": sum(len(u.drills) for u in units),
        }


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        at = f"line {self.line}" if self.line else "file"
        return f"{at}: {self.where}: {self.message}" if self.where else f"{at}: {self.message}"


class CurriculumError(ValueError):
    """The file is not a valid curriculum; ``problems`` say where and why."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        super().__init__(f"{path}: " + "; ".join(str(p) for p in problems[:5]))
        self.problems = problems


def consistency(curriculum: Curriculum) -> list[tuple[tuple[Any, ...], str]]:
    """Rules across the file (unique ids and lemmas, genders, translations), with locations."""
    found: list[tuple[tuple[Any, ...], str]] = []
    seen_ids: set[str] = set()
    seen_lemmas: set[str] = set()
    languages = set(curriculum.explanation_languages)
    for li, level in enumerate(curriculum.levels):
        for ui, unit in enumerate(level.units):
            where = ("levels", li, "units", ui)
            things: list[tuple[tuple[Any, ...], str]] = [(where, unit.id)]
            for kind in ("grammar", "scenarios", "drills"):
                things += [((*where, kind, n), x.id) for n, x in enumerate(getattr(unit, kind))]
            for loc, ident in things:
                if ident in seen_ids:
                    found.append(((*loc, "id"), f"id {ident!r} is used twice"))
                seen_ids.add(ident)
            for vi, item in enumerate(unit.vocabulary):
                loc = (*where, "vocabulary", vi)
                if item.lemma.casefold() in seen_lemmas:
                    found.append(((*loc, "lemma"), f"lemma {item.lemma!r} appears twice"))
                seen_lemmas.add(item.lemma.casefold())
                if curriculum.target_language == "es" and item.pos == "noun" and not item.gender:
                    found.append((loc, f"Spanish noun {item.lemma!r} needs a gender (m or f)"))
                for name in ("translations", "example_translation"):
                    missing = languages - set(getattr(item, name))
                    if missing:
                        found.append(((*loc, name), f"no {sorted(missing)} text"))
    return found


#: Nodes a curriculum may expand to (a shipped one has about 11,000): past this, aliases are
#: multiplying a short text into work for minutes.
MAX_NODES = 250_000
#: Open ``[``/``{`` a curriculum may nest (its own use at most two or three): PyYAML's
#: scanner takes quadratic time over a run of them, seconds for a few thousand.
MAX_FLOW_DEPTH = 100
_BRACKETS = re.compile(r"[\[\]{}]")


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, key.value), out)
            out[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _expanded_size(root: yaml.Node) -> int | None:
    """How many nodes the document holds once its aliases are expanded, counting up to just
    past :data:`MAX_NODES`; None when an alias refers to a node that contains it."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children = _children(node)
        if done:
            open_ids.discard(id(node))
            total = 1 + sum(sizes[id(child)] for child in children)
            sizes[id(node)] = min(total, MAX_NODES + 1)
            if total > MAX_NODES:
                return total
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_ids:
            return None
        open_ids.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def flow_too_deep(text: str) -> int | None:
    """The line where brackets (``[``, ``{``) first open more than :data:`MAX_FLOW_DEPTH` deep;
    counted without reading quotes, so a bracket inside a string counts too."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_FLOW_DEPTH:
            return text.count("\n", 0, match.start()) + 1
    return None


def _read(text: str, path: str) -> tuple[yaml.Node, Any]:
    """The YAML's node tree and data, refused (as a CurriculumError) when it is not YAML, nests
    too deeply, or its aliases expand past :data:`MAX_NODES` (a "billion laughs" text)."""
    deep = flow_too_deep(text)
    if deep is not None:
        message = f"brackets open more than {MAX_FLOW_DEPTH} deep"
        raise CurriculumError(path, [Problem(deep, "", message)])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            size = _expanded_size(node)
            if size is None:
                raise CurriculumError(path, [Problem(None, "", "an alias refers to itself")])
            if size > MAX_NODES:
                message = f"the file expands to more than {MAX_NODES} YAML nodes"
                raise CurriculumError(path, [Problem(None, "", message)])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise CurriculumError(path, [Problem(line, "", f"not valid YAML: {exc}")]) from exc
    except RecursionError as exc:  # PyYAML composes recursively: a few hundred open brackets
        raise CurriculumError(path, [Problem(None, "", "the YAML nests too deeply")]) from exc
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML cannot build: 2001-02-30,
        # an integer of 5,000 digits
        raise CurriculumError(path, [Problem(None, "", f"not a valid value: {exc}")]) from exc
    if not isinstance(data, dict) or node is None:
        raise CurriculumError(path, [Problem(1, "", "the file must be a YAML mapping")])
    return node, data


def parse(text: str, path: str = "<text>") -> Curriculum:
    """Validate curriculum YAML; :class:`CurriculumError` lists each problem with its line."""
    node, data = _read(text, path)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        _lines(node, (), lines)
    except RecursionError as exc:
        raise CurriculumError(path, [Problem(None, "", "the YAML nests too deeply")]) from exc
    try:
        curriculum = Curriculum.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                _line_for(tuple(e["loc"]), lines),
                ".".join(str(p) for p in e["loc"]),
                str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
        raise CurriculumError(path, problems) from exc
    found = consistency(curriculum)
    if found:
        raise CurriculumError(
            path,
            [
                Problem(_line_for(loc, lines), ".".join(str(p) for p in loc), message)
                for loc, message in found
            ],
        )
    return curriculum


def load(path: Path) -> Curriculum:
    return parse(path.read_text(encoding="utf-8"), str(path))


#: What a shipped curriculum must hold at least.
MINIMUMS = {"vocabulary": 400, "grammar": 25, "scenarios": 12, "drills": 20}

CURRICULA_DIR = Path(__file__).resolve().parents[1] / "curricula"


def shipped() -> list[Path]:
    """The curricula that ship with the service, newest version of each last."""
    return sorted(CURRICULA_DIR.glob("*.v*.yaml"))
