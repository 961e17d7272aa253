"""Where the CPU goes: cProfile on process time, added up by library (or stdlib module)."""

from __future__ import annotations

import cProfile
import pstats
import sysconfig
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_STDLIB = sysconfig.get_paths()["stdlib"]


@dataclass(frozen=True, slots=True)
class Share:
    """CPU seconds spent in one group's own code, and that as a share of the total."""

    group: str
    seconds: float
    share: float


@dataclass(frozen=True, slots=True)
class Functions:
    """The busiest single functions (own time), for the report's "hot spots"."""

    name: str
    seconds: float
    share: float
    calls: int


def group_of(filename: str, function: str) -> str:
    """``sqlalchemy``, ``tutor.inbox``, ``stdlib json``, or the C object a builtin belongs to."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith(str(ROOT)):
        parts = Path(filename).relative_to(ROOT).with_suffix("").parts
        return ".".join(parts[:2]) if parts[0] in ("tutor", "memory", "agents") else parts[0]
    if filename.startswith(_STDLIB):
        module = Path(filename).relative_to(_STDLIB).parts[0].removesuffix(".py")
        return f"stdlib {module}"
    if filename == "~":  # a C function: name it by the object it belongs to
        if " of '" in function:
            owner = function.split(" of '", 1)[1].split("'", 1)[0]
            return f"C {owner.split('.', 1)[0]}"
        return "C builtins"
    return filename


def profile(work: Callable[[], object]) -> pstats.Stats:
    """Run ``work`` under cProfile measuring process (CPU) time, not wall time."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        work()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


def by_group(stats: pstats.Stats, top: int = 12) -> list[Share]:
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        totals[group_of(filename, function)] += tottime
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [Share(group, seconds, seconds / whole) for group, seconds in ranked[:top]]


def hottest(stats: pstats.Stats, top: int = 10) -> list[Functions]:
    raw = stats.stats  # type: ignore[attr-defined]
    whole = sum(entry[2] for entry in raw.values()) or 1.0
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:top]
    found = []
    for (filename, line, function), (_cc, calls, tottime, _ct, _callers) in ranked:
        where = group_of(filename, function)
        name = function if filename == "~" else f"{where}:{function} ({Path(filename).name}:{line})"
        found.append(Functions(name, tottime, tottime / whole, calls))
    return found


Target = tuple[tuple[str, str], ...]


def inclusive(stats: pstats.Stats, targets: dict[str, Target], total: float) -> list[Share]:
    """Inclusive CPU of named steps: ``{label: ((file path suffix, function name), ...)}``.

    ``total`` is the CPU the steps are a share of (e.g. the whole profiled run). The
    functions under one label must not call each other, or their time counts twice.
    """
    raw = stats.stats  # type: ignore[attr-defined]
    found = []
    for label, functions in targets.items():
        seconds = sum(
            entry[3]
            for (filename, _line, function), entry in raw.items()
            if any(filename.endswith(suffix) and function == name for suffix, name in functions)
        )
        found.append(Share(label, seconds, seconds / total if total else 0.0))
    return found
