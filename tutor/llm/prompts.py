"""Versioned prompt templates, and learner text quoted as data.

Templates live in ``tutor/llm/prompts/<name>.v<N>.txt``; the newest version
wins unless one is pinned. They use ``$name`` placeholders
(:class:`string.Template`), so braces in learner text or JSON examples are
harmless. Learner text never goes into a template: :func:`quote` wraps it
in a ``<learner_message>`` block the system prompt tells the model to treat
as data, with any look-alike tags in it neutralised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.txt$")
_TAG = re.compile(r"</?\s*learner_message\s*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def render(self, **values: str) -> str:
        """Fill ``$placeholders``; a missing value is an error, not a silent gap."""
        return Template(self.text).substitute(values)


@lru_cache(maxsize=1)
def _library() -> dict[str, dict[int, Prompt]]:
    library: dict[str, dict[int, Prompt]] = {}
    for path in sorted(PROMPT_DIR.glob("*.txt")):
        match = _FILE.match(path.name)
        if match is None:
            continue
        prompt = Prompt(match["name"], int(match["version"]), path.read_text(encoding="utf-8"))
        library.setdefault(prompt.name, {})[prompt.version] = prompt
    return library


def prompt(name: str, version: int | None = None) -> Prompt:
    """The template ``name`` at ``version`` (default: the newest)."""
    versions = _library().get(name)
    if not versions:
        raise KeyError(f"no prompt template named {name!r}")
    return versions[version if version is not None else max(versions)]


def quote(learner_text: str) -> str:
    """Learner text as a delimited data block that cannot close itself early."""
    cleaned = _TAG.sub("[tag removed]", learner_text)
    return f"<learner_message>\n{cleaned}\n</learner_message>"
