"""Markdown pieces for the report: tables, numbers, verdicts, profile shares."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench import rig
from bench.profile import Functions, Share


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def verdict(met: bool, measured: float, target: float, unit: str) -> str:
    if met:
        return f"**met** ({ms(measured)} {unit} against {target:g} {unit})"
    if measured <= target:
        return "**not met** (errors or a lower rate than offered; see below)"
    over = measured - target
    return (
        f"**missed** by {over:.2g} {unit} ({measured / target:.2f}× the {target:g} {unit} target)"
        if over < 1
        else f"**missed** by {over:.1f} {unit} ({measured / target:.1f}× the {target:g} {unit}"
        " target)"
    )


def shares(rows: Sequence[Share], total_label: str) -> str:
    return table(
        ["Where", f"CPU s ({total_label})", "Share"],
        [(row.group, f"{row.seconds:.3f}", pct(row.share)) for row in rows],
    )


def hottest(rows: Sequence[Functions]) -> str:
    return table(
        ["Function (own time)", "Calls", "Share"],
        [(f"`{row.name}`", row.calls, pct(row.share)) for row in rows],
    )


def disturbed(cores: float) -> str:
    """A warning for a measurement that other processes shared the CPU with."""
    if cores < rig.DISTURBED_CORES:
        return ""
    return f" ⚠ other processes used {cores:.2f} cores meanwhile"


_BLOCK = re.compile(r"<!-- (?P<name>[a-z-]+):start -->\n.*?<!-- (?P=name):end -->\n", re.DOTALL)


def write_block(path: Path, name: str, content: str) -> None:
    """Put ``content`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``path``.

    Benchmarks that are quick and separate (intent routing, the grammar engine) keep their
    section of docs/BENCHMARKS.md this way; the main report carries the blocks over.
    """
    block = f"<!-- {name}:start -->\n{content.rstrip()}\n<!-- {name}:end -->\n"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for match in _BLOCK.finditer(text):
        if match.group("name") == name:
            text = text[: match.start()] + block + text[match.end() :]
            break
    else:
        text = f"{text.rstrip()}\n\n{block}" if text else block
    path.write_text(text, encoding="utf-8")


def carry_blocks(old: Path, new_text: str) -> str:
    """``new_text`` with the named blocks of the file it replaces appended."""
    if not old.exists():
        return new_text
    kept = [m.group(0) for m in _BLOCK.finditer(old.read_text(encoding="utf-8"))]
    return new_text.rstrip() + "\n\n" + "\n".join(kept) if kept else new_text
