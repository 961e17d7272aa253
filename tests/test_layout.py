"""Our top-level packages resolve to this repository, never to another distribution.

Names like ``agents`` and ``memory`` are taken by other projects on PyPI (one agent SDK
installs ``agents``); if one of those were installed it could shadow ours silently.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "memory", "payments", "voice", "migrations", "tutor")


@pytest.mark.parametrize("name", PACKAGES)
def test_package_imports_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve() == ROOT / name / "__init__.py"


def test_packages_resolve_here_outside_the_checkout(tmp_path: Path) -> None:
    """As the installed ``tutor`` command sees them: from another directory, no sys.path help."""
    script = (
        "import importlib, json, sys\n"
        f"names = {list(PACKAGES)!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(result.stdout)
    for name in PACKAGES:
        assert Path(found[name]).resolve() == ROOT / name / "__init__.py", name
