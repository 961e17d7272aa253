"""Markdown pieces for the report: tables, numbers, verdicts, profile shares."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

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
