"""The curricula a running service teaches from, and which one each learner is on.

A learner is pinned to the curriculum version they started (``profile
["curriculum"] = "es-for-en@1"``) and stays on it when a newer version ships,
unless a teacher moves them. :class:`Library` loads every shipped file once
and keeps one rule engine per curriculum.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agents.base import Context, Outcome
from agents.curriculum import (
    Curriculum,
    GrammarPoint,
    Scenario,
    Unit,
    VocabularyItem,
    load,
    shipped,
)
from agents.rules import RuleEngine
from tutor.i18n import t
from tutor.messages import Reply

LEVEL_ORDER = ("A1", "A2", "B1", "B2", "C1")


@dataclass(frozen=True, slots=True)
class Placement:
    """A learner's curriculum, and the profile change that pins it (None if pinned already)."""

    curriculum: Curriculum
    pin: str | None

    @property
    def key(self) -> str:
        return f"{self.curriculum.id}@{self.curriculum.version}"


class Library:
    """Every curriculum loaded once; thread-safe lazy rule engines."""

    def __init__(self, paths: Iterable[Path] | None = None) -> None:
        self._by_key: dict[str, Curriculum] = {}
        for path in paths if paths is not None else shipped():
            curriculum = load(path)
            self._by_key[f"{curriculum.id}@{curriculum.version}"] = curriculum
        self._engines: dict[str, RuleEngine] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Curriculum | None:
        return self._by_key.get(key)

    def place(self, profile: Mapping[str, Any]) -> Placement | None:
        """The learner's curriculum (pinned, else the newest for their languages)."""
        pinned = self._by_key.get(str(profile.get("curriculum") or ""))
        if pinned is not None:
            return Placement(pinned, None)
        target = profile.get("target_language")
        explain = profile.get("explanation_language")
        candidates = [c for c in self._by_key.values() if c.target_language == target]
        if not candidates:
            return None
        preferred = [c for c in candidates if explain in c.explanation_languages] or candidates
        newest = max(preferred, key=lambda c: (c.version, c.id))
        return Placement(newest, f"{newest.id}@{newest.version}")

    def engine(self, curriculum: Curriculum) -> RuleEngine:
        key = f"{curriculum.id}@{curriculum.version}"
        with self._lock:
            if key not in self._engines:
                self._engines[key] = RuleEngine(curriculum)
            return self._engines[key]


class CurriculumAgent:
    """An agent that teaches from the learner's curriculum, pinning them to its version."""

    name: str

    def __init__(self, library: Library) -> None:
        self.library = library

    def placed(self, context: Context, act: Callable[[Placement], Outcome]) -> Outcome:
        """``act`` on the learner's curriculum, the learner pinned to its version if not yet;
        a plain answer when they have not chosen a language to practise."""
        placement = self.library.place(context.profile)
        if placement is None:
            return Outcome(self.name, (Reply(t("no_curriculum", context.lang)),))
        outcome = act(placement)
        if placement.pin is None:
            return outcome
        base = outcome.profile if outcome.profile is not None else context.profile
        return replace(outcome, profile={**base, "curriculum": placement.pin})


def without(state: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """``state`` without ``keys`` (closing a menu, an exercise, a correction)."""
    return {k: v for k, v in state.items() if k not in keys}


def units_for(curriculum: Curriculum, level: str) -> list[Unit]:
    """The units at the learner's level and below (all of them above the top level)."""
    rank = LEVEL_ORDER.index(level) if level in LEVEL_ORDER else 0
    chosen = [
        unit
        for block in curriculum.levels
        if LEVEL_ORDER.index(block.code) <= rank
        for unit in block.units
    ]
    return chosen or list(curriculum.levels[0].units)


def current_units(curriculum: Curriculum, level: str) -> list[Unit]:
    """The units of the learner's own level (the lowest level when theirs is not taught)."""
    for block in curriculum.levels:
        if block.code == level:
            return list(block.units)
    top = [b for b in curriculum.levels if LEVEL_ORDER.index(b.code) <= LEVEL_ORDER.index(level)]
    return list((top[-1] if top else curriculum.levels[0]).units)


def scenarios_for(curriculum: Curriculum, level: str) -> list[Scenario]:
    return [s for unit in current_units(curriculum, level) for s in unit.scenarios] or [
        s for unit in units_for(curriculum, level) for s in unit.scenarios
    ]


def grammar_points(curriculum: Curriculum) -> dict[str, GrammarPoint]:
    return {point.id: point for unit in curriculum.units() for point in unit.grammar}


def vocabulary(curriculum: Curriculum) -> list[VocabularyItem]:
    return [item for unit in curriculum.units() for item in unit.vocabulary]


_ARTICLE = {"m": "el", "f": "la"}


def headword(item: VocabularyItem, target: str) -> str:
    """The word as it is learned: Spanish nouns with their article ("la cuchara")."""
    if target == "es" and item.pos == "noun" and item.gender in _ARTICLE:
        return f"{_ARTICLE[item.gender]} {item.lemma}"
    return item.lemma


def localised(values: Mapping[str, str], lang: str) -> str:
    """The text in ``lang``, else the first one there is."""
    return values.get(lang) or next(iter(values.values()), "")


def pick(options: list[Any], seed: str) -> Any:
    """A stable choice among ``options`` for ``seed`` (same turn, same answer on redelivery)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


def open_question(curriculum: Curriculum, state: Mapping[str, Any]) -> str | None:
    """The role-play line the learner still owes an answer to, if a scene is open."""
    scene = state.get("scenario")
    if not isinstance(scene, Mapping):
        return None
    for unit in curriculum.units():
        for scenario in unit.scenarios:
            if scenario.id == scene.get("id"):
                lines = [scenario.opening, *scenario.follow_ups]
                return lines[min(int(scene.get("step", 0)), len(lines) - 1)]
    return None
