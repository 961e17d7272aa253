"""The curricula a running service teaches from, and which one each learner is on.

A learner is pinned to the curriculum version they started (``profile
["curriculum"] = "es-for-en@1"``) and stays on it when a newer version ships,
unless a teacher moves them. :class:`Library` loads every shipped file once
and keeps one rule engine per curriculum.

Given a database (:meth:`Library.with_store`), it also teaches the versions teachers
publish in the staff app (the ``curricula`` table) without a restart: it looks for new
(id, version) pairs at most every ``refresh_seconds`` before placing a new learner, and
at once when asked for a key it does not know (a learner a teacher pinned to a fresh
version). Published rows never change, so a loaded version is never reloaded; a row
that does not parse is logged and skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from agents.base import Context, Outcome
from agents.curriculum import (
    Curriculum,
    GrammarPoint,
    Scenario,
    Unit,
    VocabularyItem,
    load,
    parse,
    shipped,
)
from agents.rules import RuleEngine
from tutor.i18n import t
from tutor.messages import Reply
from tutor.models import curricula

logger = logging.getLogger(__name__)

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
    """Every curriculum loaded once; thread-safe lazy rule engines; published rows on demand."""

    def __init__(
        self,
        paths: Iterable[Path] | None = None,
        *,
        engine: Engine | None = None,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._by_key: dict[str, Curriculum] = {}
        for path in paths if paths is not None else shipped():
            curriculum = load(path)
            self._by_key[f"{curriculum.id}@{curriculum.version}"] = curriculum
        self._shipped = frozenset(self._by_key)
        self._engines: dict[str, RuleEngine] = {}
        self._lock = threading.Lock()
        self._store = engine
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._checked_at: float | None = None
        self._skipped: set[str] = set()  # published rows that did not parse
        self._missed: dict[str, float] = {}  # unknown keys, when last looked for

    def with_store(self, engine: Engine, refresh_seconds: float = 30.0) -> Library:
        """These curricula (parsed once) plus the versions published in ``engine``'s database."""
        library = Library([], engine=engine, refresh_seconds=refresh_seconds, clock=self._clock)
        library._by_key.update((k, v) for k, v in self._by_key.items() if k in self._shipped)
        library._shipped = self._shipped
        return library

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Curriculum | None:
        found = self._by_key.get(key)
        if found is None and self._store is not None and key:
            found = self._look_for(key)
        return found

    def place(self, profile: Mapping[str, Any]) -> Placement | None:
        """The learner's curriculum (pinned, else the newest for their languages)."""
        pinned = self.get(str(profile.get("curriculum") or ""))
        if pinned is not None:
            return Placement(pinned, None)
        self.refresh()
        target = profile.get("target_language")
        explain = profile.get("explanation_language")
        known = self._by_key
        candidates = [c for c in known.values() if c.target_language == target]
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

    # Published versions --------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Load versions published since the last look (at most every ``refresh_seconds``)."""
        if self._store is None:
            return
        now = self._clock()
        with self._lock:
            last = self._checked_at
            if not force and last is not None and now - last < self._refresh_seconds:
                return
            self._checked_at = now
        try:
            self._load_new(self._store)
        except SQLAlchemyError:
            logger.exception("could not look for published curricula; teaching the known ones")

    def _look_for(self, key: str) -> Curriculum | None:
        """An unknown key: look in the database now, then not again for ``refresh_seconds``."""
        now = self._clock()
        with self._lock:
            missed = self._missed.get(key)
            if missed is not None and now - missed < self._refresh_seconds:
                return None
            self._missed[key] = now
        self.refresh(force=True)
        return self._by_key.get(key)

    def _load_new(self, engine: Engine) -> None:
        """The cheap query for (id, version) pairs, then the text of the new ones only;
        parsed after the connection is back in the pool."""
        published = curricula.c.status == "published"
        sources: list[tuple[str, str | None]] = []
        with engine.connect() as connection:
            pairs = connection.execute(
                select(curricula.c.curriculum_id, curricula.c.version).where(published)
            ).all()
            for cid, version in pairs:
                key = f"{cid}@{version}"
                if key in self._by_key or key in self._skipped:
                    continue
                source = connection.execute(
                    select(curricula.c.source).where(
                        published, curricula.c.curriculum_id == cid, curricula.c.version == version
                    )
                ).scalar_one_or_none()
                sources.append((key, source))
        for key, source in sources:
            self._add(key, source)

    def _add(self, key: str, source: str | None) -> None:
        """Parse one published row; a broken one is logged and skipped for good."""
        try:
            curriculum = parse(source or "", f"curricula:{key}")
        except Exception:  # whatever is wrong with one row, the others are still taught
            logger.warning("published curriculum skipped", exc_info=True, extra={"curriculum": key})
            self._skipped.add(key)
            return
        if f"{curriculum.id}@{curriculum.version}" != key:
            logger.warning(
                "published curriculum skipped: its text says %s@%s",
                curriculum.id,
                curriculum.version,
                extra={"curriculum": key},
            )
            self._skipped.add(key)
            return
        with self._lock:
            # Copy on write: readers iterate the dict they were handed without a lock.
            self._by_key = {key: curriculum, **self._by_key}
            self._missed.pop(key, None)


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
