"""``python -m bench.reliability [--long] [--write]``: run the reliability suite, report it.

Runs every test marked ``reliability`` (tests/reliability/ and the older tests that carry the
marker) through pytest in this process, with ``tests.support.reliability.Recorder`` noting each
outcome. ``--long`` runs the long variants (marker ``long``) instead of the default ones; the
test command (``make test``) runs only the default ones. ``--write`` puts the table, with what
each test injects and checks, into docs/RELIABILITY.md (its own block for each of the two runs).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench import machine
from bench.markdown import table, write_block
from tests.support.reliability import Outcome, Recorder

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RELIABILITY.md"
PYTHON = ".venv/bin/python"


def run(long: bool, extra: Sequence[str]) -> tuple[list[Outcome], float, int]:
    """Run the suite; the outcomes, the wall time and pytest's exit code."""
    selection = "reliability and long" if long else "reliability and not long"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "outcomes.json"
        started = time.monotonic()
        code = pytest.main(
            ["-q", "-p", "no:cacheprovider", "-m", selection, str(ROOT / "tests"), *extra],
            plugins=[Recorder(path)],
        )
        wall = time.monotonic() - started
        outcomes = [Outcome(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    return outcomes, wall, int(code)


def _function(nodeid: str) -> tuple[str, str]:
    """``(file, test name)`` of a node id, parameters dropped."""
    path, _, name = nodeid.partition("::")
    return path, name.split("[", 1)[0].replace("::", ".")


def _result(group: list[Outcome]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for outcome in group:
        counts[outcome.outcome] += 1
    text = ", ".join(
        f"{state} {n}/{len(group)}" if len(group) > 1 else state for state, n in counts.items()
    )
    problems = [o.message for o in group if o.outcome in ("failed", "error", "skipped")]
    return f"**{text}**: {problems[0].replace('|', '¦')}" if problems else text


def render(outcomes: list[Outcome], wall: float, long: bool) -> str:
    """The block of docs/RELIABILITY.md for one run."""
    totals: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        totals[outcome.outcome] += outcome.items
    where = machine.describe()
    mode = "-m long" if long else ""
    command = f"{PYTHON} -m bench.reliability {'--long ' if long else ''}--write"
    lines = [
        f"Last run: {where.measured_at}, commit {where.commit}, on {where.cores} cores "
        f"({where.cpu}), {where.python}.",
        f"Command: `{command}`. {sum(o.items for o in outcomes)} tests in {wall / 60:.1f} min: "
        + ", ".join(f"{n} {state}" for state, n in sorted(totals.items()))
        + ".",
        "",
    ]
    by_file: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for outcome in outcomes:
        path, name = _function(outcome.nodeid)
        by_file[path][name].append(outcome)
    for path in sorted(by_file):
        lines += [
            f"#### `{path}`",
            "",
            f"Rerun: `{PYTHON} -m pytest {mode + ' ' if mode else ''}{path}` "
            "(one test: add `-k NAME`).",
            "",
        ]
        rows = []
        for name, group in by_file[path].items():
            first = group[0]
            runs = sum(o.items for o in group)
            label = f"`{name}`" + (f" ×{runs}" if runs > 1 else "")
            seconds = sum(o.seconds for o in group)
            rows.append([label, first.injects, first.checks, _result(group), f"{seconds:.1f}"])
        lines += [table(["Test", "Injects", "Checks", "Last result", "s"], rows), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--long", action="store_true", help="run the long variants")
    parser.add_argument("--write", action="store_true", help=f"write the results into {DOC}")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    options = parser.parse_args(argv)
    outcomes, wall, code = run(options.long, options.pytest_args)
    block = render(outcomes, wall, options.long)
    if options.write:
        write_block(DOC, "results-long" if options.long else "results", block)
    else:
        print(block)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
