"""What each reliability test injects and checks, read from its docstring, and its outcome.

A test marked ``reliability`` says, in its docstring::

    Injects: what goes wrong, or what hostile input is sent.
    Checks: what must hold afterwards.

``describe`` reads the two lines; collection fails for a test that leaves one out, so
docs/RELIABILITY.md (written by ``python -m bench.reliability``) can never list a test
without saying what it proves. ``Recorder`` is the pytest plugin that bench loads to collect
each test's outcome and time.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

MARKER = "reliability"
_LABEL = re.compile(r"^\s*(Injects|Checks):\s*", re.MULTILINE)


@dataclass(frozen=True)
class Description:
    injects: str
    checks: str


def describe(docstring: str | None) -> Description | None:
    """The ``Injects:`` and ``Checks:`` text of a docstring, each joined onto one line."""
    matches = list(_LABEL.finditer(docstring or ""))
    if not docstring or not matches:
        return None
    parts: dict[str, str] = {}
    for match, after in zip(matches, [*matches[1:], None], strict=True):
        end = after.start() if after else len(docstring)
        text = docstring[match.end() : end].split("\n\n", 1)[0]
        parts[match.group(1)] = " ".join(text.split())
    if not parts.get("Injects") or not parts.get("Checks"):
        return None
    return Description(parts["Injects"], parts["Checks"])


def _docstring(item: pytest.Item) -> str | None:
    function = getattr(item, "function", None)
    return inspect.getdoc(function) if function is not None else None


def undescribed(items: list[pytest.Item]) -> list[str]:
    """Node ids of the reliability tests among ``items`` whose docstring lacks a label."""
    return [
        item.nodeid
        for item in items
        if item.get_closest_marker(MARKER) and describe(_docstring(item)) is None
    ]


@dataclass
class Outcome:
    nodeid: str
    injects: str
    checks: str
    markers: list[str]
    outcome: str = "not run"
    seconds: float = 0.0
    message: str = ""
    phases: list[str] = field(default_factory=list)
    #: Items under this node id: schemathesis runs one per API operation under a single id.
    items: int = 1


class Recorder:
    """Collects every reliability test's outcome; writes them as JSON when the session ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outcomes: dict[str, Outcome] = {}

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:  # what is left to run, once markers have deselected
            description = describe(_docstring(item))
            if not (item.get_closest_marker(MARKER) and description):
                continue
            if item.nodeid in self.outcomes:
                self.outcomes[item.nodeid].items += 1
            else:
                self.outcomes[item.nodeid] = Outcome(
                    item.nodeid,
                    description.injects,
                    description.checks,
                    sorted({mark.name for mark in item.iter_markers()}),
                )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = self.outcomes.get(report.nodeid)
        if outcome is None:
            return
        outcome.seconds += report.duration
        outcome.phases.append(report.when)
        if report.failed:
            outcome.outcome = "failed" if report.when == "call" else "error"
            crash = getattr(report.longrepr, "reprcrash", None)
            text = getattr(crash, "message", None) or str(report.longrepr).strip()
            outcome.message = " ".join(text.split())[:300]
        elif report.skipped:
            outcome.outcome = "skipped"
            longrepr = report.longrepr
            outcome.message = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)[:300]
        elif report.when == "call" and outcome.outcome == "not run":
            outcome.outcome = "passed"

    def pytest_sessionfinish(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            json.dumps([asdict(o) for o in self.outcomes.values()], indent=1), encoding="utf-8"
        )
